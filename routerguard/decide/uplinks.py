"""Which uplinks cost: the one rule the kernel's rules, the data saver and the page all follow.

`wan_if` names the metered uplinks; a `config uplink` section says of one
interface whether it is metered. An interface nobody described is assumed to
cost: charging free traffic is the cheaper mistake.
"""

from __future__ import annotations

from routerguard.config.model import Config


def is_metered(config: Config, ifname: str) -> bool:
    """Metered unless a `config uplink` says `metered '0'`."""
    return next((u.metered for u in config.uplinks if u.ifname == ifname), True)


def metered_uplinks(config: Config) -> tuple[str, ...]:
    """The interfaces traffic is charged on: wan_if and the described uplinks, those that are metered."""
    return tuple(name for name in config.uplink_names if is_metered(config, name))
