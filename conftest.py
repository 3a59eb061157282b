"""Repository-wide pytest settings: how nbval runs the chapter notebooks in solutions/.

nbval waits at most 5 seconds (a constant in its ``IPyNbCell``, with no command-line
option) for each output message of a cell that has already finished. On a machine
shared with other CPU-heavy jobs the kernel can be starved for longer than that, and a
cell that ran fine fails with "Timeout of 5 seconds exceeded waiting for output" (seen
in a test run with two training jobs beside it). Waiting longer costs nothing when the
machine is idle, because the wait ends as soon as the message arrives.
"""
from __future__ import annotations

from nbval.plugin import IPyNbCell  # a test dependency: pytest's addopts pass --nbval-lax

#: Seconds nbval waits for each output message of a finished cell (nbval's own value: 5).
NBVAL_OUTPUT_TIMEOUT = 120


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, IPyNbCell):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
