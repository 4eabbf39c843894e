"""Hand-made inputs for the renderers of ``discover`` and ``env``: fixed, so goldens never drift.

A real sweep or a real ``env_report()`` depends on the machine; these records do not.
"""

from __future__ import annotations

from detaudit.docs.discover import Alert, Discovery, OpAlerts
from detaudit.repro.envreport import ADVICE, EnvReport, Setting


def discovery() -> Discovery:
    """A sweep of four ops on a GPU: one covered alert, one not, a crash and failing runs."""
    put = OpAlerts(
        id="put",
        name="put",
        variant="",
        api="torch.Tensor.put",
        dtype="float32",
        samples=12,
        alerts=(
            Alert(
                pass_="forward",
                status="raises",
                kernel="put_",
                count=6,
                first_sample=1,
                sample="Tensor[size=(5, 5)], args=(Tensor[size=(3,)], Tensor[size=(3,)])",
                message="put_ does not have a deterministic implementation, but you set ...",
                covered_by=("put-accumulate-false",),
            ),
        ),
    )
    unpool = OpAlerts(
        id="nn.functional.max_unpool2d",
        name="nn.functional.max_unpool2d",
        variant="",
        api="torch.nn.functional.max_unpool2d",
        dtype="float32",
        samples=8,
        alerts=(
            Alert(
                pass_="forward",
                status="raises",
                kernel="max_unpooling2d_forward_out",
                count=8,
                first_sample=0,
                sample="Tensor[size=(1, 1, 2, 2)], args=(Tensor[size=(1, 1, 2, 2)], 2)",
                message="max_unpooling2d_forward_out does not have a deterministic ...",
            ),
            Alert(
                pass_="backward",
                status="warns",
                kernel="index_put_",
                count=3,
                first_sample=2,
                sample="Tensor[size=(1, 1, 4, 4)], args=(Tensor[size=(1, 1, 4, 4)], 2)",
                message="index_put_ with accumulate=False ...",
            ),
        ),
    )
    return Discovery(
        torch="2.13.0+cu130",
        device="cuda",
        seconds=12.345,
        ops=4,
        samples=57,
        backward=31,
        errors=2,
        alerting=(put, unpool),
        failures=(("nn.functional.grid_sample", "worker killed by SIGSEGV"),),
        errored=(("cumsum", 2, "RuntimeError: expected scalar type Float"),),
        settings={"ops": [], "samples": 40, "seed": 0, "timeout": 60.0},
    )


def env_report() -> EnvReport:
    """What ``env_report()`` might give on a GPU machine: some settings off, some not applicable."""
    environment = {
        "torch": "2.13.0+cu130",
        "torch_git": "0123456789abcdef0123456789abcdef01234567",
        "cuda": "13.0",
        "cudnn": 91300,
        "gpu": "NVIDIA H100 80GB HBM3",
        "gpu_capability": "sm_90",
        "gpu_driver": "580.65.06",
        "gpu_count": 1,
        "python": "3.11.7",
        "python_executable": "/usr/bin/python3",
        "os": "Linux-6.8.0-x86_64-with-glibc2.39",
        "cpu": "x86_64",
        "numpy": "2.4.6",
        "cublas_workspace_config": None,
        "hostname": "gpu-01",
    }

    def setting(name: str, value: bool | str | None, ok: bool | None) -> Setting:
        return Setting(name, value, ok, ADVICE[name] if ok is False else None)

    settings = (
        setting("use_deterministic_algorithms", True, True),
        setting("warn_only", True, False),
        setting("cudnn.deterministic", False, False),
        setting("cudnn.benchmark", False, True),
        setting("fill_uninitialized_memory", True, True),
        setting("mkldnn.deterministic", "not in this torch", None),
        setting("inductor.deterministic", "not imported", None),
        setting("CUBLAS_WORKSPACE_CONFIG", None, False),
        setting("PYTHONHASHSEED", "0", True),
    )
    return EnvReport(environment=environment, settings=settings)
