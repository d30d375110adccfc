"""Print authsvc's install_requires (and the named extras) from setup.cfg, one per line.

The image installs dependencies in a layer of their own, before the code is copied, so that a
code change rebuilds seconds of layers instead of re-downloading every wheel; setup.cfg stays the
one place the dependencies are written down.
"""

import configparser
import sys


def requirements(setup_cfg: str, extras: list[str]) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    text = parser["options"]["install_requires"]
    for extra in extras:
        text += "\n" + parser["options.extras_require"][extra]
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1], sys.argv[2:])))
