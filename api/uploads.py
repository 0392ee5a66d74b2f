"""Reading a multipart upload into memory, refusing it (413) as soon as it passes its size limit."""

from __future__ import annotations

from fastapi import UploadFile

from api.errors import ApiError

READ_CHUNK = 1024 * 1024


async def read_upload(file: UploadFile, limit: int, *, setting: str, param: str) -> bytes:
    """The file's bytes; 413 ``file_too_large`` naming ``setting`` (the env var of the limit) once more than
    ``limit`` bytes arrived, without reading the rest."""
    data = bytearray()
    while chunk := await file.read(READ_CHUNK):
        data += chunk
        if len(data) > limit:
            raise ApiError(
                413,
                f"'{file.filename}' is larger than the {limit // (1024 * 1024)} MB limit ({setting})",
                code="file_too_large",
                param=param,
            )
    return bytes(data)
