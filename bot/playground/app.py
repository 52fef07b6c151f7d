"""The playground's HTTP API and page (FastAPI). It goes through the same queue, worker and store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from bot.dialogue import ConversationFormatError, Dialogue, EmptyConversationError, format_dialogue, parse_conversation
from bot.playground import service
from bot.playground.limits import check_pasted_text, limit
from bot.playground.model_info import is_random_test_model
from bot.playground.workers import RegistryWorkers
from bot.queue import BUSY_MESSAGE, QueueBusyError, QueueUnavailableError, redis_connection
from bot.store import Store

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
BUSY_RETRY_AFTER_S = 120
Format = Literal["auto", "plain", "dialogsum", "slack", "discord"]


class ConversationIn(BaseModel):
    text: str = Field(max_length=2_000_000)
    format: Format = "auto"
    request_key: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    filename: str | None = Field(None, max_length=255, description="Set when the text came from an uploaded file.")


class FeedbackIn(BaseModel):
    summary_id: int
    rating: Literal[1, -1, 0]
    voter: str = Field(min_length=1, max_length=64)


def _conversation(data: str | bytes, settings: Any, *, filename: str | None, fmt: str) -> tuple[Dialogue, str | None]:
    """Pasted text and files get their own error wording; both get the message and size limits, with a note."""
    if filename is None and isinstance(data, str):
        check_pasted_text(data)
    limited = limit(parse_conversation(data, filename=filename, fmt=fmt), settings)
    return format_dialogue(limited.messages), limited.note


def _preview(dialogue: Dialogue, note: str | None) -> dict[str, Any]:
    return {"dialogue": dialogue.text, "speakers": dialogue.speakers, "message_count": dialogue.message_count,
            "note": note}


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConversationFormatError)
    @app.exception_handler(EmptyConversationError)
    async def bad_conversation(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": str(exc)})

    @app.exception_handler(QueueBusyError)
    async def busy(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": BUSY_MESSAGE, "busy": True},
                            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})

    @app.exception_handler(QueueUnavailableError)
    async def queue_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": f"{exc} Start Redis or check RECAP_REDIS_URL."})


def create_app(settings: Any, workers: service.WorkerWatch | None = None) -> FastAPI:
    """``workers`` says whether a worker can answer (recap demo passes the process it started)."""
    app = FastAPI(title="Recap playground", docs_url=None, redoc_url=None)
    store = Store.from_settings(settings)
    connection = redis_connection(settings)  # one client (and pool) for every request of this app
    watch = workers or RegistryWorkers(connection, settings)
    _error_handlers(app)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    @app.post("/api/preview")
    def preview(body: ConversationIn) -> dict[str, Any]:
        return _preview(*_conversation(body.text, settings, filename=body.filename, fmt=body.format))

    @app.post("/api/upload")
    async def upload(file: UploadFile = File(...)) -> dict[str, Any]:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, "That file is larger than 5 MB.")
        return _preview(*_conversation(data, settings, filename=file.filename or "The file", fmt="auto"))

    @app.post("/api/summaries", status_code=202)
    def create_summary(body: ConversationIn) -> dict[str, Any]:
        dialogue, note = _conversation(body.text, settings, filename=body.filename, fmt=body.format)
        job_id = service.submit(dialogue, settings, platform="playground", request_key=body.request_key,
                                connection=connection)
        return {"job_id": job_id, **_preview(dialogue, note)}

    @app.get("/api/summaries/{job_id}")
    def summary_state(job_id: str) -> dict[str, Any]:
        return service.job_state(job_id, settings, connection=connection, workers=watch).as_dict()

    @app.post("/api/feedback")
    def feedback(body: FeedbackIn) -> dict[str, Any]:
        if store.get_summary(body.summary_id) is None:
            raise HTTPException(404, "No such summary.")
        store.record_vote(body.summary_id, f"playground:{body.voter}", body.rating or None, source="playground")
        return {"ok": True}

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "model": settings.model, "adapter": settings.adapter,
                "random_test_model": is_random_test_model(settings.model), "worker": watch.status().as_dict(),
                "max_messages": settings.max_messages}

    return app
