"""Reading a checkpoint without letting its pickle run code.

A .pth file is a pickle, and a pickle may name any importable callable (os.system, subprocess.call, ...)
and have it called while loading: a checkpoint from elsewhere would run its code on the exporting
machine. Here every global the pickle names must be on a short list: tensors and their storages,
OrderedDict, the training `args` Namespace, and the few builtins that protocol 2 uses for plain
containers. Anything else is refused by its dotted name before it is imported or called.

torch 1.13's own `weights_only=True` is as strict but refuses argparse.Namespace, which every seed
checkpoint carries as `args`, so the check is ours. torch.load cannot take it: with weights_only=False it
replaces any `pickle_module` given by the standard pickle (torch 1.13, serialization.py), so the file is
read by torch.serialization's own zip and legacy readers with the restricted unpickler passed to them.
"""
from __future__ import annotations

import pickle
import types
import zipfile
from pathlib import Path
from typing import Any

import torch

#: (module, name) pairs a checkpoint may name. Storage classes (torch.FloatStorage, ...) never get here:
#: torch's own unpickler resolves names containing "Storage" to storage types itself.
ALLOWED_GLOBALS = frozenset({
    ("collections", "OrderedDict"),
    ("argparse", "Namespace"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("_codecs", "encode"),  # how pickle protocol 2 writes bytes
})


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle named something outside ALLOWED_GLOBALS; nothing it named was imported or run."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Checked on the exact pair, before anything is imported: dotted names cannot reach past the list.
        if (module, name) not in ALLOWED_GLOBALS:
            raise ForbiddenGlobal(module, name)
        return super().find_class(module, name)


def _load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


#: What torch.load takes as `pickle_module`: it subclasses our Unpickler (for storages) and calls load().
RESTRICTED_PICKLE = types.SimpleNamespace(Unpickler=RestrictedUnpickler, load=_load, __name__="restricted_pickle")


class TorchScriptArchive(pickle.UnpicklingError):
    """torch.load hands a TorchScript archive to torch.jit.load instead of unpickling it: never wanted here."""


def load_checkpoint_data(path: Path) -> Any:
    """torch.load on CPU through the restricted unpickler; raises ForbiddenGlobal naming what was refused."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("/constants.pkl") for name in archive.namelist()):
                raise TorchScriptArchive("a TorchScript archive (torch.jit.save), not a checkpoint of state dicts")
    serialization = torch.serialization
    with open(path, "rb") as handle:
        if serialization._is_zipfile(handle):
            with serialization._open_zipfile_reader(handle) as archive:
                return serialization._load(archive, "cpu", RESTRICTED_PICKLE, encoding="utf-8")
        return serialization._legacy_load(handle, "cpu", RESTRICTED_PICKLE, encoding="utf-8")
