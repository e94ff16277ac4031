"""Hand-written documents and pieces of them for the interpreter's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT = json.loads((Path(__file__).parent / "data" / "contract_matmul.json").read_text())


def tensor(name: str, rank: int, elem: str = "f32") -> dict[str, Any]:
    return {"id": name, "type": {"tensor": {"shape": ["?"] * rank, "elem": elem}}}


def scalar(name: str, kind: str) -> dict[str, Any]:
    return {"id": name, "type": {"scalar": kind}}


def document(
    args: list[dict[str, Any]], body: list[dict[str, Any]], name: str = "kernel"
) -> dict[str, Any]:
    returned = body[-1]["values"] if body and body[-1]["op"] == "hl.return" else []
    # Each returned tensor's type is its allocation's or its argument's.
    types = {op["result"]: (len(op["shape"]), op["dtype"]) for op in body if op["op"] == "hl.alloc"}
    for arg in args:
        if "tensor" in arg["type"]:
            types[arg["id"]] = (len(arg["type"]["tensor"]["shape"]), arg["type"]["tensor"]["elem"])
    rets = [
        {"type": {"tensor": {"shape": ["?"] * types[name][0], "elem": types[name][1]}}}
        for name in returned
    ]
    func = {"name": name, "args": args, "rets": rets, "body": body}
    return {"version": 1, "module": {"name": "m", "funcs": [func]}}


def tiles(
    names: list[str],
    sizes: list[Any],
    ends: list[Any],
    *,
    parallel: bool = True,
    begins: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "op": "hl.tile.begin",
        "iters": [f"i{n}" for n in names],
        "sizes": sizes,
        "result": names,
        "begin": begins or [0] * len(names),
        "end": ends,
        "parallel": parallel,
    }


END = {"op": "hl.tile.end"}


def window(base: str, *tile_names: str) -> dict[str, Any]:
    return {
        "slice": {
            "base": base,
            "offsets": list(tile_names),
            "sizes": [f"size({t})" for t in tile_names],
        }
    }


def torch_op(
    name: str, overload: str, args: list[Any], result: Any, **attrs: Any
) -> dict[str, Any]:
    op: dict[str, Any] = {"op": f"torch.{name}", "overload": overload, "args": args}
    op["attrs"] = attrs
    if result is not None:
        op["result"] = result
    return op


def elementwise(
    op: dict[str, Any], rank: int = 2, sizes: tuple[int, ...] = (4, 3)
) -> dict[str, Any]:
    """out[tile] = OP(x[tile]) over a rank-``rank`` input, OP's result named ``v``."""
    names = [f"tile_{i}" for i in range(rank)]
    body = [
        {
            "op": "hl.alloc",
            "shape": [f"dim(x,{i})" for i in range(rank)],
            "dtype": "f32",
            "result": "out",
        },
        tiles(names, list(sizes[:rank]), [f"dim(x,{i})" for i in range(rank)]),
        {"op": "hl.load", "result": "xv", "slice": window("x", *names)["slice"]},
        op,
        {"op": "hl.store_slice", "dst": "out", "offsets": names, "src": "v"},
        END,
        {"op": "hl.return", "values": ["out"]},
    ]
    return document([tensor("x", rank)], body)
