"""FastMix Studio entry point.

    python main.py                 open the app
    python main.py --demo          open the bundled demo study (generated on first use)
    python main.py --demo --screenshot DIR
                                   run the demo pipeline offscreen, save one PNG per tab, exit
    python main.py fastmix ...     run FastMix headless (see ``fastmix --help``)
    python main.py gate ...        gate FCS files headless (see ``gate --help``)
    python main.py --self-test     end-to-end check: demo study, DAFi gating, FastMix, exports,
                                   then the main window (offscreen without a display)
"""
from __future__ import annotations

import sys

SUBCOMMANDS = {
    "fastmix": ("study.fastmix_cli", "main"),
    "gate": ("study.gating_cli", "main"),
}


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # batch gating uses worker processes, also in the bundle
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        module, func = SUBCOMMANDS[argv[0]]
        return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
    if "--self-test" in argv:
        from study.selftest import main as self_test

        def window_check(project_file, png):  # Qt is imported only here, after the headless stages
            from gui.selftest import check_window

            return check_window(project_file, png)

        return int(self_test([a for a in argv if a != "--self-test"], window_check=window_check) or 0)
    from gui.app import main as gui_main

    return int(gui_main(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
