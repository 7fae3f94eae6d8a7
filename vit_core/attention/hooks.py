"""What every hook-owning context manager shares: its handles, removed on exit or on demand (idempotent)."""

from __future__ import annotations

from torch.utils.hooks import RemovableHandle

__all__ = ["HookOwner"]


class HookOwner:
    """Keeps the hooks a context manager adds in ``_handles``; ``__exit__`` and :meth:`remove` take them all off."""

    _handles: list[RemovableHandle]

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
