"""Says whether the process that forked this one (gradcli's parent) has torch loaded: on
stderr, and appended to the file $PARENT_PROBE_FILE when it is set."""

import os


def forward(x):
    with open(f"/proc/{os.getppid()}/maps", encoding="utf-8") as maps:
        loaded = "libtorch" in maps.read()
    print(f"parent holds torch: {loaded}", flush=True)
    if os.environ.get("PARENT_PROBE_FILE"):
        with open(os.environ["PARENT_PROBE_FILE"], "a", encoding="utf-8") as out:
            out.write(f"{loaded}\n")
    return x * 2
