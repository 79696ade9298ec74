"""The numba cache directory is keyed on every file that holds a compiled kernel."""

from __future__ import annotations

from pathlib import Path

from tradewarden._kernel_cache import KERNEL_FILES

SRC = Path(__file__).resolve().parents[1] / "src" / "tradewarden"


def test_every_file_with_a_compiled_kernel_keys_the_cache() -> None:
    # a kernel file missing here keeps stale compiled callers of its changed kernels in the cache
    compiled = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "@njit" in p.read_text()}
    assert compiled, "the scan finds the kernel files"
    assert compiled <= set(KERNEL_FILES), sorted(compiled - set(KERNEL_FILES))
