"""The steps of each ticket type (per DOMAIN.md's ticket table), for the demo's open tickets.

A step is (name, role, department code or None, limit value, limit unit). The maker has
already filled in the form, so step 1 is the first responsible party after the maker.
"""

from __future__ import annotations

from dataclasses import dataclass

WD = "working_day"
HH = "half_hour"


@dataclass(frozen=True)
class StepSpec:
    name: str
    role: str
    department: str | None
    limit: float
    unit: str = WD


FLOWS: dict[str, tuple[StepSpec, ...]] = {
    "onboarding": (
        StepSpec("专卖管理所转交许可证及位置", "licensing", "licensing", 0.5),
        StepSpec("客户经理走访，提出线路及资料", "customer_manager", None, 1),
        StepSpec("县区负责人审核", "county_dept", None, 0.5),
        StepSpec(
            "市场部维护类型、经理、电话、银行、订货方式、业态、位置",
            "market_dept",
            "market_dept",
            1,
        ),
        StepSpec("配送部地图定位并分配线路", "delivery_dept", "delivery_dept", 0.5),
        StepSpec("销售部设定限量和访销批次", "sales_dept", "sales_dept", 1),
        StepSpec("销售部办结", "sales_dept", "sales_dept", 0.5),
    ),
    "change_city": (
        StepSpec("县区营销部接收变更单", "county_dept", None, 1),
        StepSpec("客户经理实地核实并反馈", "customer_manager", None, 0.5),
        StepSpec("营销中心变更", "market_dept", "market_dept", 1),
        StepSpec("县区复核", "county_dept", None, 1),
    ),
    "change_county": (
        StepSpec("市场部审核变更单", "market_dept", "market_dept", 1),
        StepSpec("市场部变更", "market_dept", "market_dept", 1),
        StepSpec("县区确认并归档", "county_dept", None, 1),
    ),
    "phone_change": (
        StepSpec("客户经理审核申请表", "customer_manager", None, 1),
        StepSpec("市场经理审批", "market_manager", None, 1),
        StepSpec("市场部变更生效", "market_dept", "market_dept", 0.5),
    ),
    "location_change": (
        StepSpec("配送部审核新旧位置", "delivery_dept", "delivery_dept", 1),
        StepSpec("变更生效", "delivery_dept", "delivery_dept", 0.5),
    ),
    "route_change": (
        StepSpec("配送部负责人审批", "delivery_dept", "delivery_dept", 1),
        StepSpec("变更生效并通知客户", "delivery_dept", "delivery_dept", 0.5),
    ),
    "bulk_change": (
        StepSpec("市场部负责人审核签字", "market_dept", "market_dept", 1),
        StepSpec("批量变更（同一事务）", "market_dept", "market_dept", 0.5),
        StepSpec("县区核实", "county_dept", None, 1),
    ),
    "emergency_change": (
        StepSpec("受理部门接收", "sales_dept", "sales_dept", 1, HH),
        StepSpec("市场部填写变更单", "market_dept", "market_dept", 1, HH),
        StepSpec("县区审核", "county_dept", None, 1, HH),
        StepSpec("变更生效并通知", "market_dept", "market_dept", 1, HH),
    ),
    "credit_rating": (
        StepSpec("收集证据", "licensing", "licensing", 3),
        StepSpec("初评", "licensing", "licensing", 2),
        StepSpec("公示（不少于7个工作日）及申诉", "licensing", "licensing", 7),
        StepSpec("终评", "licensing", "licensing", 1),
    ),
    "classification_recompute": (
        StepSpec("市场部审核分类调整表", "market_dept", "market_dept", 1),
        StepSpec("县区确认", "county_dept", None, 1),
    ),
}

# Who starts a ticket of each type ("shop_manager" = the shop's customer manager).
MAKERS: dict[str, str] = {
    "onboarding": "licensing",
    "change_city": "market_dept",
    "change_county": "county_dept",
    "phone_change": "shop_manager",
    "location_change": "delivery_dept",
    "route_change": "delivery_dept",
    "bulk_change": "county_dept",
    "emergency_change": "sales_dept",
    "credit_rating": "licensing",
    "classification_recompute": "market_dept",
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
