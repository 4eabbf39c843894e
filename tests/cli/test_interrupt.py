"""A Ctrl-C before the command has started (while torch and the parsers load) is one line, exit 130."""

from __future__ import annotations

from detaudit import cli
from detaudit.cli import app


def test_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt  # what SIGINT does during an import, before any handler is set

    monkeypatch.setattr(app, "build_parser", interrupted)
    assert cli.main(["audit"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "detaudit: interrupted by SIGINT; no report written\n"
    assert captured.out == ""
