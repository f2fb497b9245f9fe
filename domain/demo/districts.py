"""The demo city's districts and counties around Xi'an: codes, shapes' seed sites, towns, streets.

Coordinates are WGS-84 approximations. Each region's polygon is the union of the Voronoi
cells of its ``sites`` (towns are sites too, so a town always lies inside its region),
clipped to the outer envelope; ``share`` is the region's part of the shops, split between
the city street grid, town clusters and scattered villages.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Town:
    name: str  # e.g. 韦曲
    admin: str  # the sub-district in addresses, e.g. 韦曲街道 / 玉山镇
    lng: float
    lat: float
    weight: float  # share of the region's town shops
    length_m: float  # main street length
    streets: tuple[str, ...]


@dataclass(frozen=True)
class RegionSpec:
    code: str
    name: str
    kind: str  # urban_district / suburban_district / county
    share: float
    grid: float  # share of the region's shops on the city street grid
    villages: float  # share in villages; the rest in towns
    sites: tuple[tuple[float, float], ...]
    towns: tuple[Town, ...]
    streets: tuple[str, ...]

    @property
    def is_urban(self) -> bool:
        return self.kind != "county"


# An irregular outline of the service area (clockwise from the south-west).
ENVELOPE: tuple[tuple[float, float], ...] = (
    (108.47, 33.97), (108.70, 33.95), (108.95, 33.96), (109.20, 33.97), (109.44, 34.00),
    (109.45, 34.20), (109.40, 34.35), (109.31, 34.45), (109.21, 34.58), (109.05, 34.60),
    (108.93, 34.56), (108.83, 34.46), (108.73, 34.36), (108.56, 34.31), (108.45, 34.20),
    (108.46, 34.06),
)  # fmt: skip

REGIONS: tuple[RegionSpec, ...] = (
    RegionSpec(
        "610102", "新城区", "urban_district", 0.10, 1.0, 0.0,
        ((108.968, 34.273), (108.996, 34.268)),
        (),
        ("解放路", "长乐西路", "东五路", "西五路", "尚德路", "自强东路", "韩森路", "幸福中路",
         "金花北路", "长缨西路", "华清路", "东新街", "西一路", "康复路"),
    ),
    RegionSpec(
        "610103", "碑林区", "urban_district", 0.10, 1.0, 0.0,
        ((108.946, 34.246), (108.976, 34.244)),
        (),
        ("东大街", "南大街", "和平路", "长安北路", "友谊西路", "咸宁西路", "东关正街", "兴庆路",
         "太乙路", "文艺北路", "建设路", "互助路", "柏树林", "含光北路"),
    ),
    RegionSpec(
        "610104", "莲湖区", "urban_district", 0.11, 1.0, 0.0,
        ((108.916, 34.268), (108.928, 34.286)),
        (),
        ("西大街", "北大街", "劳动路", "桃园北路", "大庆路", "红庙坡路", "丰镐东路", "莲湖路",
         "洒金桥", "土门街", "枣园东路", "星火路", "环城西路", "西关正街"),
    ),
    RegionSpec(
        "610113", "雁塔区", "suburban_district", 0.15, 0.85, 0.05,
        ((108.945, 34.205), (108.885, 34.215), (108.992, 34.213)),
        (
            Town("鱼化寨", "鱼化寨街道", 108.862, 34.222, 0.6, 1600, ("鱼化路", "丈八西路")),
            Town("曲江", "曲江街道", 108.992, 34.205, 0.4, 1800, ("曲江池东路", "芙蓉西路")),
        ),
        ("小寨东路", "小寨西路", "长安南路", "朱雀大街", "含光路", "太白南路", "科技路",
         "高新路", "雁塔路", "翠华路", "电子正街", "吉祥路", "丈八东路", "唐延路", "西影路"),
    ),
    RegionSpec(
        "610112", "未央区", "suburban_district", 0.12, 0.70, 0.10,
        ((108.945, 34.330), (108.880, 34.312), (108.900, 34.400), (109.000, 34.362)),
        (
            Town("草滩", "草滩街道", 108.900, 34.400, 0.5, 2000, ("草滩八路", "尚稷路")),
            Town("汉城", "汉城街道", 108.880, 34.312, 0.5, 1500, ("汉城北路", "汉城南路")),
        ),
        ("未央路", "凤城一路", "凤城五路", "凤城八路", "文景路", "明光路", "太华北路",
         "北辰大道", "玄武路", "张家堡街", "大明宫路", "三桥街"),
    ),
    RegionSpec(
        "610111", "灞桥区", "suburban_district", 0.08, 0.50, 0.15,
        ((109.065, 34.265), (109.140, 34.310), (109.080, 34.370), (109.220, 34.400)),
        (
            Town("纺织城", "纺织城街道", 109.065, 34.265, 0.5, 2200,
                ("纺织城正街", "纺北路", "纺西街")),
            Town("洪庆", "洪庆街道", 109.140, 34.310, 0.25, 1400, ("洪庆街", "田洪正街")),
            Town("新筑", "新筑街道", 109.080, 34.370, 0.25, 1400, ("新筑大道", "席王街")),
        ),
        ("纺织城正街", "灞桥街", "长乐东路", "浐河东路", "东城大道", "十里铺街", "田洪正街"),
    ),
    RegionSpec(
        "610116", "长安区", "county", 0.12, 0.0, 0.30,
        ((108.945, 34.158), (108.870, 34.170), (109.030, 34.050), (108.990, 34.100),
         (108.930, 34.020), (109.080, 34.150)),
        (
            Town("韦曲", "韦曲街道", 108.945, 34.158, 0.45, 3000,
                ("韦曲西街", "韦曲南街", "西长安街", "子午大道")),
            Town("郭杜", "郭杜街道", 108.870, 34.170, 0.25, 2200,
                ("郭杜西街", "樱花二路", "文苑中路")),
            Town("引镇", "引镇街道", 109.030, 34.050, 0.15, 1500, ("引镇街", "环山路")),
            Town("王曲", "王曲街道", 108.990, 34.100, 0.15, 1400, ("王曲街", "神禾一路")),
        ),
        ("韦曲西街", "韦曲南街", "子午大道", "航天大道", "西长安街", "神禾一路", "文苑中路"),
    ),
    RegionSpec(
        "610118", "鄠邑区", "county", 0.07, 0.0, 0.35,
        ((108.605, 34.108), (108.660, 34.150), (108.700, 34.050), (108.560, 34.240),
         (108.730, 34.215)),
        (
            Town("甘亭", "甘亭街道", 108.605, 34.108, 0.6, 2600,
                ("人民路", "娄敬路", "画展街", "钟楼街")),
            Town("余下", "余下街道", 108.660, 34.150, 0.2, 1400, ("余下街", "西宝路")),
            Town("秦渡", "秦渡镇", 108.700, 34.050, 0.2, 1200, ("秦渡街", "草堂路")),
        ),
        ("人民路", "娄敬路", "画展街", "钟楼街", "余下街", "秦渡街"),
    ),
    RegionSpec(
        "610117", "高陵区", "county", 0.07, 0.0, 0.35,
        ((109.088, 34.535), (109.040, 34.490), (109.140, 34.520), (109.200, 34.520)),
        (
            Town("鹿苑", "鹿苑街道", 109.088, 34.535, 0.6, 2400,
                ("鹿苑大道", "泾渭路", "昭慧路", "东方红路")),
            Town("崇皇", "崇皇街道", 109.040, 34.490, 0.2, 1300, ("崇皇路", "奥达路")),
            Town("通远", "通远街道", 109.140, 34.520, 0.2, 1300, ("通远街", "张卜街")),
        ),
        ("鹿苑大道", "泾渭路", "昭慧路", "东方红路", "崇皇路", "通远街"),
    ),
    RegionSpec(
        "610122", "蓝田县", "county", 0.08, 0.0, 0.40,
        ((109.320, 34.152), (109.250, 34.200), (109.400, 34.100), (109.230, 34.050),
         (109.350, 34.300)),
        (
            Town("蓝关", "蓝关街道", 109.320, 34.152, 0.55, 2400,
                ("向阳路", "北关街", "蓝新路", "县门街")),
            Town("华胥", "华胥镇", 109.250, 34.200, 0.15, 1200, ("华胥街", "三里镇路")),
            Town("玉山", "玉山镇", 109.400, 34.100, 0.15, 1200, ("玉山街", "玉川路")),
            Town("汤峪", "汤峪镇", 109.230, 34.050, 0.15, 1200, ("汤峪街", "温泉路")),
        ),
        ("向阳路", "北关街", "蓝新路", "县门街", "华胥街", "玉山街", "汤峪街"),
    ),
)  # fmt: skip

# City-grid spacing (the core's streets run north-south and east-west) and density spreads.
GRID_SPACING_M = 420.0
GRID_SIGMA_URBAN_M = 2600.0
GRID_SIGMA_SUBURBAN_M = 6500.0
URBAN_RADIUS_M = 14_000.0  # suburban-district shops beyond this are rural (农网)


@dataclass(frozen=True)
class DepotSpec:
    code: str
    short: str
    name: str
    kind: str
    lng: float
    lat: float
    address: str


DEPOTS: tuple[DepotSpec, ...] = (
    DepotSpec("DC-XA", "XA", "西安配送中心", "distribution_centre", 108.862, 34.302,
              "西安市未央区三桥街道车辆段路168号"),
    DepotSpec("TS-CA", "CA", "长安中转站", "transit_station", 108.952, 34.141,
              "西安市长安区韦曲街道子午大道56号"),
    DepotSpec("TS-LT", "LT", "蓝田中转站", "transit_station", 109.312, 34.162,
              "西安市蓝田县蓝关街道蓝新路18号"),
    DepotSpec("TS-HY", "HY", "鄠邑中转站", "transit_station", 108.618, 34.116,
              "西安市鄠邑区甘亭街道西宝路22号"),
    DepotSpec("PP-YS", "YS", "玉山取货点", "pickup_point", 109.398, 34.102,
              "西安市蓝田县玉山镇玉山街9号"),
    DepotSpec("PP-QD", "QD", "秦渡取货点", "pickup_point", 108.702, 34.052,
              "西安市鄠邑区秦渡镇秦渡街31号"),
    DepotSpec("PP-YZ", "YZ", "引镇取货点", "pickup_point", 109.031, 34.052,
              "西安市长安区引镇街道引镇街15号"),
    DepotSpec("PP-TY", "TY", "通远取货点", "pickup_point", 109.141, 34.521,
              "西安市高陵区通远街道通远街6号"),
)  # fmt: skip
