"""(filled by the feature)"""

from __future__ import annotations

import strawberry


@strawberry.type
class PlaceQueries:
    pass
