"""Who starts the demo's open tickets and why. Their steps come from the ticket types
(domain/tickets/types.toml) when the engine opens them.

Makers are chosen so that every step is someone else's: the demo city has one user per
city department, and the engine never lets a maker decide a step of the own ticket.
"""

from __future__ import annotations

# Who starts a ticket of each type ("shop_manager" = the shop's customer manager).
MAKERS: dict[str, str] = {
    "onboarding": "licensing",
    "change_city": "sales_dept",  # a market-centre department other than the applying one
    "change_county": "county_dept",
    "phone_change": "shop_manager",
    "location_change": "shop_manager",  # the field visit finds the new place
    "route_change": "shop_manager",
    "bulk_change": "county_dept",
    "emergency_change": "sales_dept",
    "credit_rating": "licensing",
    "classification_recompute": "county_dept",  # the county's classification adjustment table
}

REASONS: dict[str, tuple[str, ...]] = {
    "onboarding": ("新办零售许可证，申请入网", "新店开业，申请纳入配送"),
    "change_city": ("营销中心核查发现经营业态与实际不符", "根据市场走访结果调整客户性质"),
    "change_county": ("县区核实经营面积变化，申请变更", "店主变更联系人，县区申请更新"),
    "phone_change": ("店主更换手机号码，提交变更申请表", "原订货电话停用，申请变更"),
    "location_change": ("店铺搬迁至同街道新址，申请调整地图位置", "原定位偏差较大，重新采集坐标"),
    "route_change": ("平衡线路工作量，调整至相邻线路", "道路施工，调整送货线路"),
    "bulk_change": ("县区统一推广网上订货，批量变更订货方式", "批量推广电子结算"),
    "emergency_change": ("店铺突发火灾，暂停经营", "道路封闭施工，暂停送货"),
    "credit_rating": ("检查发现违规经营行为，启动诚信等级评定", "年度诚信等级复评"),
    "classification_recompute": ("季度进货数据更新，调整经营规模分类", "月度分类调整表"),
}
