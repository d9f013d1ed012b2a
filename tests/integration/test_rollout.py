import json
import time


def test_explore(rig):
    t = time.monotonic()
    ret = rig.salt.orchestrate()
    print("RC", ret.returncode, time.monotonic() - t)
    with open("/tmp/itest/orch1.json", "w") as f:
        json.dump({"data": ret.data, "stdout": ret.stdout, "stderr": ret.stderr}, f, indent=1, default=str)
