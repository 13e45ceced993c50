"""The README's Python example runs as written (on a corpus VG)."""

from __future__ import annotations

import contextlib
import hashlib
import io

from conftest import CORPUS


def test_readme_example(images):
    text = (CORPUS.parents[1] / "README.md").read_text()
    section = text[text.index("## Python: the `lvmsim` package") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")]
    assert len(code.strip().splitlines()) == 5
    pvs = [str(p) for p in images.get("snap-striped-origin")]
    code = code.replace('["pv1.img", "pv2.img"]', repr(pvs)).replace('lv("snap")', 'lv("s1")')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    rec = (CORPUS / "snap-striped-origin").glob("*.sha256")
    s1 = {p.read_text().split()[0] for p in rec if p.read_text().split()[1] == "/dev/vg/s1"}
    assert lines[-1] in s1
    assert any(line.startswith("s1 swi-a-s") for line in lines)
