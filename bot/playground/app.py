"""The playground's HTTP API and page (FastAPI). It goes through the same queue, worker and store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from bot.dialogue import ConversationFormatError, Dialogue, EmptyConversationError, format_dialogue, parse_conversation
from bot.playground import service
from bot.queue import QueueUnavailableError
from bot.store import Store

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
Format = Literal["auto", "plain", "dialogsum", "slack", "discord"]


class ConversationIn(BaseModel):
    text: str = Field(max_length=2_000_000)
    format: Format = "auto"
    request_key: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class FeedbackIn(BaseModel):
    summary_id: int
    rating: Literal[1, -1, 0]
    voter: str = Field(min_length=1, max_length=64)


def _dialogue(body: ConversationIn) -> Dialogue:
    return format_dialogue(parse_conversation(body.text, fmt=body.format))


def _preview(dialogue: Dialogue) -> dict[str, Any]:
    return {"dialogue": dialogue.text, "speakers": dialogue.speakers, "message_count": dialogue.message_count}


def create_app(settings: Any) -> FastAPI:
    app = FastAPI(title="Recap playground", docs_url=None, redoc_url=None)
    store = Store.from_settings(settings)

    @app.exception_handler(ConversationFormatError)
    @app.exception_handler(EmptyConversationError)
    async def bad_conversation(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": str(exc)})

    @app.exception_handler(QueueUnavailableError)
    async def queue_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": f"{exc} Start Redis or check RECAP_REDIS_URL."})

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    @app.post("/api/preview")
    def preview(body: ConversationIn) -> dict[str, Any]:
        return _preview(_dialogue(body))

    @app.post("/api/upload")
    async def upload(file: UploadFile = File(...)) -> dict[str, Any]:
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, "That file is larger than 5 MB.")
        dialogue = format_dialogue(parse_conversation(data, filename=file.filename))
        return _preview(dialogue)

    @app.post("/api/summaries", status_code=202)
    def create_summary(body: ConversationIn) -> dict[str, Any]:
        dialogue = _dialogue(body)
        job_id = service.submit(dialogue, settings, platform="playground", request_key=body.request_key)
        return {"job_id": job_id, **_preview(dialogue)}

    @app.get("/api/summaries/{job_id}")
    def summary_state(job_id: str) -> dict[str, Any]:
        state = service.job_state(job_id, settings)
        return {"status": state.status, "summary": state.summary, "summary_id": state.summary_id,
                "error": state.error}

    @app.post("/api/feedback")
    def feedback(body: FeedbackIn) -> dict[str, Any]:
        if store.get_summary(body.summary_id) is None:
            raise HTTPException(404, "No such summary.")
        store.record_vote(body.summary_id, f"playground:{body.voter}", body.rating or None, source="playground")
        return {"ok": True}

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "model": settings.model, "adapter": settings.adapter}

    return app
