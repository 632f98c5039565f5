"""`FakeResolver`: DNS for the webhook URL policy, answered from a table (nothing leaves the
machine); it records what was asked."""

from __future__ import annotations

from dataclasses import dataclass, field

PUBLIC_ADDRESS = "52.29.10.20"  # globally routable; never connected to by these tests


@dataclass
class FakeResolver:
    """`async (host) -> addresses` from a table; unknown hosts resolve to `public`."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    public: str = PUBLIC_ADDRESS

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return list(self.answers.get(host, [self.public]))
