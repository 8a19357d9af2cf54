"""Splitting runner streams into control objects (as the vectors README does)."""
import base64
import io
import json
import zipfile


def split_stream(raw: bytes):
    pos, out = 0, []
    while pos < len(raw):
        nl = raw.index(b"\n", pos)
        obj = json.loads(raw[pos:nl])
        pos = nl + 1
        if "zipfile" in obj:
            need = 4 * ((obj["zipfile"] + 2) // 3)
            blob = raw[pos:pos + need]
            pos += need
            obj = {"zipfile": obj["zipfile"],
                   "zip": zipfile.ZipFile(io.BytesIO(base64.b64decode(blob)))}
        out.append(obj)
    return out


def event_keys(objs):
    """The deterministic view of a worker stream (README: fields to compare)."""
    view = []
    for o in objs:
        if "status" in o:
            view.append(("status", o["status"]))
        elif "zip" in o:
            names = sorted(n for n in o["zip"].namelist())
            view.append(("zip", tuple(names), o["zip"].read("status"), o["zip"].read("rc")))
        elif "eof" in o:
            view.append(("eof",))
        elif o.get("event") == "keepalive":
            continue
        else:
            view.append((o["event"], o["counter"], o["start_line"], o["end_line"],
                         tuple(o), tuple(o.get("event_data", {}))))
    return view


def stdouts(objs):
    return [o["stdout"] for o in objs if "counter" in o and o.get("event") != "keepalive"]
