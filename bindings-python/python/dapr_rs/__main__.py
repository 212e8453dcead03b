"""``python -m dapr_rs``: the ``dapr-rs`` command (see ``_cli``)."""

from ._cli import main

if __name__ == "__main__":  # not when imported (stubtest walks every module)
    main()
