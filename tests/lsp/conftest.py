"""End-to-end fixtures for the language server: a real ``h2j-lsp`` process driven by
pytest-lsp's client, exporting through real ``python -m helion2json.worker`` processes.

Starting a worker imports torch and helion (seconds), so most tests share one server for
the whole session (``editor``); each test works on files of its own so that they do not see
each other's results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from lsp_editor import Editor, new_workspace, running_editor


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_editor(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Editor]:
    async with running_editor(new_workspace(tmp_path_factory, "shared"), settings={}) as shared:
        yield shared


@pytest.fixture
def editor(shared_editor: Editor) -> Iterator[Editor]:
    """One server (and one worker) for every test that works on files of its own; the files
    a test opened are closed after it, so that later restarts do not export them again."""
    yield shared_editor
    for uri in list(shared_editor.opened):
        shared_editor.close(uri)
