"""Regenerates the .npy fixtures that src/onnx/npy_test.cc reads (written by real numpy).

Run from this folder with a python that has numpy:  /usr/bin/python3 make_fixtures.py
The unit test itself never needs python; the values here are mirrored in npy_test.cc.
"""
import numpy as np

np.save("f32_2x3.npy", np.arange(6, dtype="<f4").reshape(2, 3) / 2)
np.save("f16_4.npy", np.array([0.5, -2.0, 65504.0, np.inf], dtype="<f2"))
np.save("f64_fortran_2x3.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)))
np.save("i32_be_3.npy", np.array([1, -2, 300000], dtype=">i4"))
np.save("f64_be_2.npy", np.array([1.5, -0.25], dtype=">f8"))
np.save("u8_scalar.npy", np.array(200, dtype="|u1"))
np.save("i8_3.npy", np.array([-128, 0, 127], dtype="|i1"))
np.save("u64_2.npy", np.array([0, 2**64 - 1], dtype="<u8"))
np.save("bool_4.npy", np.array([True, False, False, True]))
np.save("c64_2.npy", np.array([1 + 2j, -3.5j], dtype="<c8"))
np.save("empty_0x3.npy", np.zeros((0, 3), dtype="<i8"))
np.save("unicode_2x2.npy", np.array([["a", "héllo"], ["", "日本"]]))
np.save("unicode_be_2.npy", np.array(["ab", "Ω"], dtype=">U2"))
np.save("bytes_3.npy", np.array([b"ab", b"", b"xyz"]))
np.save("unicode_fortran_2x2.npy", np.asfortranarray(np.array([["a", "b"], ["c", "d"]])))
with open("v2_i16_3.npy", "wb") as f:
    np.lib.format.write_array(f, np.array([1, -1, 7], dtype="<i2"), version=(2, 0))
with open("v3_f32_2.npy", "wb") as f:
    np.lib.format.write_array(f, np.array([3.0, 4.0], dtype="<f4"), version=(3, 0))
np.save("object.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
