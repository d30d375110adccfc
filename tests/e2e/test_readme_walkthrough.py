"""README.md's walkthrough, run as written against a stack that deploy/local/up.sh brought up.

The shell blocks under "## Walkthrough" are taken from README.md and run in one bash, in order, as
a user pasting them block by block into one terminal would (variables carry over), from the
checkout -- with one substitution: the registry's address ``127.0.0.1:5000`` becomes this stack's
free port.  Nothing else is edited, so a walkthrough step that stops working fails this test, and
the README cannot drift from what works.  The shell stops at the first failing command
(``set -euo pipefail``), naming it.

Then the results are checked from outside: what the inventory holds (``authsvc repo list``), who
pushed, and that the public image is pullable anonymously and the private one is not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .local_stack import LocalStack
from .processes import describe, ok, run
from .stack import REPO_ROOT, DockerDaemon

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "README.md"
README_REGISTRY = "127.0.0.1:5000"
WALKTHROUGH_TIMEOUT = 600


def walkthrough_blocks(text: str) -> list[str]:
    """The ```sh blocks between the '## Walkthrough' heading and the next heading of that level."""
    start = text.index("\n## Walkthrough")
    following = text.find("\n## ", start + 1)
    section = text[start:following if following != -1 else len(text)]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)


def as_script(blocks: list[str], registry: str) -> str:
    """One bash script: the blocks in order, each announced on stderr, every command echoed as
    written (``$BASH_COMMAND``: unexpanded, so no password reaches the test's output)."""
    lines = ["set -euo pipefail", "trap 'echo \"+ $BASH_COMMAND\" >&2' DEBUG"]
    for number, block in enumerate(blocks, 1):
        lines += [f"echo '### walkthrough block {number}' >&2", block.replace(README_REGISTRY, registry)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def local_stack(e2e_root: Path, dockerd: DockerDaemon) -> Iterator[LocalStack]:
    stack = LocalStack(e2e_root / "walkthrough", dockerd)
    started = time.monotonic()
    result = stack.up()
    print(f"\n[readme walkthrough] deploy/local/up.sh took {time.monotonic() - started:.1f} s")
    try:
        assert result.returncode == 0, describe(result) + "\n" + stack.logs()
        yield stack
    finally:
        stack.down()


def test_the_walkthrough_has_the_steps_the_readme_promises():
    """The extraction itself: if a heading or fence changes, this fails rather than running nothing."""
    blocks = walkthrough_blocks(README.read_text())
    script = "\n".join(blocks)
    assert len(blocks) >= 6, blocks
    for step in ("authsvc user create", "docker import", "docker push 127.0.0.1:5000/web/myapp:1.0",
                 "docker push 127.0.0.1:5000/tools/lint:latest", "podman pull --tls-verify=false",
                 "skopeo inspect --tls-verify=false", "authsvc repo list web"):
        assert step in script, step
    # the public image is pushed before anyone pulls it, and the anonymous pull comes after a logout
    assert script.index("docker push 127.0.0.1:5000/tools/lint") < script.index("docker pull 127.0.0.1:5000/tools/lint")
    assert "127.0.0.1:5001" not in script  # the only address substituted is the registry's


def test_the_readme_walkthrough_runs_as_written(local_stack: LocalStack):
    blocks = walkthrough_blocks(README.read_text())
    started = time.monotonic()
    result = run(["bash", "-c", as_script(blocks, local_stack.host)], env=local_stack.env(),
                 timeout=WALKTHROUGH_TIMEOUT, cwd=REPO_ROOT)
    print(f"\n[readme walkthrough] {len(blocks)} blocks ran in {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, describe(result) + "\n" + local_stack.logs()

    # What the README says `authsvc repo list web` shows: the header, then web/myapp with one tag.
    out = result.stdout.splitlines()
    at = out.index(next(line for line in out if line.split() == ["NAME", "TAGS", "UPDATED_AT"]))
    assert out[at + 1].split()[:2] == ["web/myapp", "1"], result.stdout
    assert "NAME       TAGS  UPDATED_AT\nweb/myapp  1     " in README.read_text()  # the sample shown
    # member list web: people and directory groups in one table (USER, GROUP, ROLE); bob is a person
    assert any(line.split()[:3] == ["bob", "-", "developer"] for line in out), result.stdout

    # The same, asked from outside the walkthrough's shell.
    assert [(r["name"], r["tags"]) for r in local_stack.cli_json("repo", "list", "web")] == [("web/myapp", 1)]
    assert [(r["name"], r["tags"]) for r in local_stack.cli_json("repo", "list", "tools")] == [("tools/lint", 1)]
    (tag,) = local_stack.cli_json("tag", "list", "web/myapp")
    assert (tag["name"], tag["pushed_by"]) == ("1.0", "bob")
    (tag,) = local_stack.cli_json("tag", "list", "tools/lint")
    assert (tag["name"], tag["pushed_by"]) == ("latest", "alice")

    # Visibility held: the public image is anyone's, the private one nobody's without login.
    skopeo = ["skopeo", "inspect", "--tls-verify=false", "--no-creds"]
    ok(run([*skopeo, f"docker://{local_stack.host}/tools/lint:latest"], env=local_stack.env()))
    private = run([*skopeo, f"docker://{local_stack.host}/web/myapp:1.0"], env=local_stack.env())
    assert private.returncode != 0 and "authentication required" in private.stderr.lower(), describe(private)
