"""Attachment files under data_dir, named by content hash, never by the sender's filename."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from maildesk.models import AttachmentPart, StoredAttachment

ATTACHMENTS = "attachments"


def save_attachment(data_dir: Path, part: AttachmentPart) -> StoredAttachment:
    """Write the part once by SHA-256 (idempotent, atomic) and describe where it is."""
    digest = hashlib.sha256(part.data).hexdigest()
    rel = Path(ATTACHMENTS, digest[:2], digest[2:4], digest)
    target = data_dir / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(part.data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredAttachment(
        filename=part.filename, content_type=part.content_type, size=len(part.data), sha256=digest,
        path=rel.as_posix(), content_id=part.content_id, inline=part.inline,
    )
