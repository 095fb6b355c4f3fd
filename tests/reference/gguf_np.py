"""gguf_np - a small, independent GGUF reader for the reference tests: the
metadata as a dict and the F32/F16 tensors as numpy arrays (shape in numpy
order, i.e. GGUF's ne reversed). Quantized tensors are not decoded here."""

import struct

import numpy as np

_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9
_NUMPY_TYPES = {0: np.float32, 1: np.float16}


class _Cursor:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self):
        n = self.take("<Q")
        s = bytes(self.data[self.pos:self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return s

    def value(self, vtype):
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, n = self.take("<I"), self.take("<Q")
            return [self.value(etype) for _ in range(n)]
        return self.take(_SCALARS[vtype])


class GGUF:
    """Reads `path` whole. .kv: {key: value}; .tensors: {name: (type, ne)};
    .tensor(name): numpy array of an F32 or F16 tensor, as float32."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        c = _Cursor(self.data)
        if bytes(self.data[:4]) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        c.pos = 4
        self.version = c.take("<I")
        n_tensors, n_kv = c.take("<Q"), c.take("<Q")
        self.kv = {}
        for _ in range(n_kv):
            key = c.string()
            self.kv[key] = c.value(c.take("<I"))
        self.tensors = {}
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.take("<I")
            ne = [c.take("<Q") for _ in range(n_dims)]
            ttype, offset = c.take("<I"), c.take("<Q")
            self.tensors[name] = (ttype, ne, offset)
        align = self.kv.get("general.alignment", 32)
        self.data_offset = (c.pos + align - 1) // align * align

    def tensor(self, name):
        ttype, ne, offset = self.tensors[name]
        if ttype not in _NUMPY_TYPES:
            raise ValueError(f"tensor {name}: type {ttype} is not F32/F16")
        count = int(np.prod(ne))
        arr = np.frombuffer(self.data, dtype=_NUMPY_TYPES[ttype], count=count,
                            offset=self.data_offset + offset)
        return arr.reshape(list(reversed(ne))).astype(np.float32)
