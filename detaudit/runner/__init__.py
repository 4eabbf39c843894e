"""The probe runner: plan (specs), worker processes, pool, and pure classification."""
