"""The typed callback context: handlers reach services through it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.i18n import Translator, translator

if TYPE_CHECKING:
    from bot.services import Services


class Ctx(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with the composition root's services (no business state in here)."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)

    @property
    def services(self) -> Services:
        """The services built in handlers/app.py."""
        services: Services = self.application.bot_data["services"]
        return services


async def user_translator(update: Update, context: Ctx) -> Translator:
    """The translator for whoever sent this update (toasts are answered in their language)."""
    user = update.effective_user
    locale = await context.services.people.locale_for(
        user.id if user else 0, user.language_code if user else None
    )
    return translator(locale)
