"""Queries over support tickets."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables.support import SupportMessage, SupportTicket


class SupportRepo:
    """Tickets and the messages in them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_ticket(self, ticket: SupportTicket) -> SupportTicket:
        self.session.add(ticket)
        await self.session.flush()
        return ticket

    async def ticket(self, ticket_id: int) -> SupportTicket | None:
        return await self.session.get(SupportTicket, ticket_id)

    async def ticket_by_number(self, number: str) -> SupportTicket | None:
        rows = await self.session.exec(
            select(SupportTicket).where(col(SupportTicket.number) == number)
        )
        return rows.first()

    async def add_message(self, message: SupportMessage) -> SupportMessage:
        self.session.add(message)
        await self.session.flush()
        return message

    async def messages(self, ticket_id: int) -> Sequence[SupportMessage]:
        rows = await self.session.exec(
            select(SupportMessage)
            .where(col(SupportMessage.ticket_id) == ticket_id)
            .order_by(col(SupportMessage.id))
        )
        return rows.all()
