from __future__ import annotations

import json

from observatory.signals.attributes import AttributeColumns, KvList


def test_values_land_in_the_map_of_their_type() -> None:
    columns = AttributeColumns("attributes")
    columns.append([("s", "x"), ("i", 7), ("f", 0.5), ("b", True), ("a", [1, "y"])])
    columns.append([("kv", KvList([("k", b"\x01")]))])
    out = {name: array.to_pylist() for name, array in columns.columns().items()}
    assert out["attributes"] == [[("s", "x")], []]
    assert out["attributes_int"] == [[("i", 7)], []]
    assert out["attributes_float"] == [[("f", 0.5)], []]
    assert out["attributes_bool"] == [[("b", True)], []]
    array_value = json.loads(out["attributes_json"][0][0][1])
    assert array_value == {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "y"}]}}
    kvlist = json.loads(out["attributes_json"][1][0][1])
    assert kvlist == {"kvlistValue": {"values": [{"key": "k", "value": {"bytesValue": "AQ=="}}]}}
