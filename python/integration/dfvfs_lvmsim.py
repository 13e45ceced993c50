"""A dfVFS back-end reading LVs through lvmsim: a path-spec type `LVMSIM`
(location `/VG/LV`, its parent the device holding the PVs: a raw image, an
E01 or qcow2 opened by dfVFS, a partition) whose file object is
`lv.open()`. Importing this module registers it; path specs above it (TSK,
EXT, NTFS...) then read the LV as any other volume.

    spec = factory.Factory.NewPathSpec("LVMSIM", location="/vg/snap", parent=ewf_spec)
    tsk = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_TSK, location="/etc/passwd", parent=spec)
"""

from __future__ import annotations

import lvmsim
from dfvfs.file_io import file_object_io
from dfvfs.path import factory, path_spec
from dfvfs.resolver import resolver
from dfvfs.resolver_helpers import manager, resolver_helper

TYPE_INDICATOR = "LVMSIM"


class LvmsimPathSpec(path_spec.PathSpec):
    """An LV (`location` `/VG/LV`) of the PVs the parent path spec holds."""

    TYPE_INDICATOR = TYPE_INDICATOR

    def __init__(self, location=None, parent=None, **kwargs):
        if not parent:
            raise ValueError("Missing parent value.")
        super().__init__(parent=parent, **kwargs)
        self.location = location

    @property
    def comparable(self):
        return self._GetComparable(sub_comparable_string=f"location: {self.location}")


class LvmsimFile(file_object_io.FileObjectIO):
    """The LV's bytes, as `lvmsim cat` shows them."""

    def _OpenFileObject(self, path_spec):
        parent = resolver.Resolver.OpenFileObject(path_spec.parent, resolver_context=self._resolver_context)
        vg, lv = path_spec.location.strip("/").split("/")
        return lvmsim.open([parent]).vg(vg).lv(lv).open()


class LvmsimResolverHelper(resolver_helper.ResolverHelper):
    TYPE_INDICATOR = TYPE_INDICATOR

    def NewFileObject(self, resolver_context, path_spec):
        return LvmsimFile(resolver_context, path_spec)


factory.Factory.RegisterPathSpec(LvmsimPathSpec)
manager.ResolverHelperManager.RegisterHelper(LvmsimResolverHelper())
