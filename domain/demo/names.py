"""Chinese word lists and vectorised generators for names of people, shops and villages."""

from __future__ import annotations

import numpy as np

from domain.demo.common import IntArray

# Common surnames with rough frequencies (Shaanxi leans to 王/张/李/刘/杨/赵/高/马/雷).
_SURNAME_WEIGHTS = (
    ("王", 7.5), ("李", 7.0), ("张", 7.0), ("刘", 5.6), ("杨", 3.6), ("陈", 3.0), ("赵", 2.8),
    ("高", 1.8), ("马", 1.6), ("郭", 1.4), ("黄", 1.2), ("周", 1.5), ("吴", 1.2), ("徐", 1.1),
    ("孙", 1.3), ("胡", 1.1), ("朱", 1.0), ("何", 0.8), ("罗", 0.7), ("梁", 0.8), ("宋", 0.9),
    ("郑", 0.7), ("谢", 0.5), ("韩", 0.9), ("唐", 0.6), ("冯", 0.8), ("于", 0.5), ("董", 0.7),
    ("程", 0.6), ("曹", 0.6), ("袁", 0.5), ("邓", 0.4), ("许", 0.5), ("沈", 0.3), ("彭", 0.4),
    ("吕", 0.5), ("苏", 0.5), ("卢", 0.4), ("蒋", 0.3), ("贾", 0.6), ("丁", 0.4), ("魏", 0.7),
    ("薛", 0.6), ("叶", 0.3), ("阎", 0.6), ("潘", 0.3), ("杜", 0.6), ("姚", 0.4), ("田", 0.6),
    ("任", 0.6), ("姜", 0.4), ("范", 0.4), ("石", 0.5), ("雷", 0.6), ("党", 0.4), ("贺", 0.4),
    ("白", 0.5), ("崔", 0.4), ("康", 0.4), ("秦", 0.4), ("史", 0.4), ("侯", 0.4), ("孟", 0.4),
    ("武", 0.5), ("乔", 0.3), ("常", 0.4), ("段", 0.3), ("席", 0.2), ("权", 0.2), ("牛", 0.3),
)  # fmt: skip
SURNAMES = tuple(s for s, _ in _SURNAME_WEIGHTS)
_SURNAME_P = np.array([w for _, w in _SURNAME_WEIGHTS]) / sum(w for _, w in _SURNAME_WEIGHTS)

GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏辉建国峰文斌宁波宇浩凯健俊"
    "帆旭博鑫佳欣怡婷雪琳晶颖倩慧海林云飞亮成龙志兵虎春梅兰凤荣丹璐阳晨瑞泽轩雨晓永庆德"
    "福安生利民学兴宏昌喜顺社锋涛莉燕蓉芬琴刚毅彬栋亚妮娥锁宝"
)

SHOP_PREFIXES = (
    "鑫源", "佳佳", "福满多", "好又多", "金鑫", "万家", "惠民", "顺发", "兴隆", "家和", "百姓",
    "聚源", "隆鑫", "华联", "红星", "秦川", "古城", "大唐", "汇丰", "宏达", "恒通", "利民",
    "乐购", "便民", "诚信", "友谊", "新星", "明珠", "金桥", "富源", "瑞祥", "吉祥", "平安",
    "和谐", "东方", "丰源", "天天", "每一天", "好邻居", "金太阳", "阳光", "旺福", "喜多多",
    "长乐", "曲江", "鼎盛", "众鑫", "六六顺", "一品", "鸿运", "永盛", "兴旺", "家家乐", "美佳",
    "优品", "幸福", "开心", "小康", "四季", "金福", "玉泉", "春晓", "盛世", "祥和", "八方",
)  # fmt: skip

# Shop-name templates per business format: {p} prefix, {s} surname, {n} full name.
SHOP_TEMPLATES: dict[str, tuple[str, ...]] = {
    "convenience": ("{p}便利店", "{p}便利", "{p}24小时便利店", "{p}便民店", "{s}记便利店"),
    "supermarket": ("{p}超市", "{p}生活超市", "{p}购物广场", "{p}量贩超市", "{p}百货超市"),
    "grocery": ("{p}商店", "{s}记副食店", "{p}食杂店", "{s}姐小卖部", "{p}日杂百货", "{n}商店",
                "{p}综合商店", "小{s}副食"),
    "tobacco_liquor": ("老{s}烟酒店", "{p}烟酒行", "{p}名烟名酒", "{p}烟酒商行", "{s}记烟酒",
                       "{n}烟酒店"),
    "entertainment": ("{p}网咖", "{p}KTV", "{p}棋牌室", "{p}台球俱乐部", "{p}宾馆", "{p}茶楼"),
    "other": ("{p}报刊亭", "{p}水果店", "{p}五金店", "{p}加油站便利店", "{p}粮油店", "{p}饭店"),
}  # fmt: skip

VILLAGE_PREFIXES = ("东", "西", "南", "北", "上", "下", "前", "后", "大", "小", "新")
VILLAGE_SUFFIXES = ("家村", "家庄", "家堡", "家寨", "村", "家沟", "家湾")

BANKS: tuple[tuple[str, str, float, float], ...] = (
    # name, card prefix (BIN), weight urban, weight rural
    ("中国工商银行", "622202", 0.22, 0.08),
    ("中国农业银行", "622848", 0.14, 0.30),
    ("中国银行", "621661", 0.10, 0.04),
    ("中国建设银行", "621700", 0.18, 0.10),
    ("交通银行", "622260", 0.06, 0.01),
    ("中国邮政储蓄银行", "621799", 0.08, 0.17),
    ("西安银行", "621283", 0.10, 0.03),
    ("长安银行", "621448", 0.07, 0.07),
    ("西安农商银行", "621392", 0.05, 0.20),
)
BUSINESS_SCOPES: dict[str, tuple[str, ...]] = {
    "convenience": ("卷烟、雪茄烟零售；预包装食品、日用百货销售",
                    "卷烟零售；食品、饮料、日用品销售"),
    "supermarket": ("卷烟、雪茄烟零售；食品、酒类、日用百货、家用电器销售",
                    "卷烟零售；超市经营"),
    "grocery": ("卷烟零售；副食品、日杂百货销售", "卷烟零售；预包装食品销售"),
    "tobacco_liquor": ("卷烟、雪茄烟零售；酒类、茶叶销售", "卷烟零售；烟酒副食销售"),
    "entertainment": ("卷烟零售；网吧、娱乐服务", "卷烟零售；住宿、餐饮服务"),
    "other": ("卷烟零售；书报刊零售", "卷烟零售；水果、粮油销售"),
}  # fmt: skip


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """Chinese personal names: a weighted surname and one or two given characters."""
    sur = rng.choice(len(SURNAMES), size=n, p=_SURNAME_P)
    g1 = rng.integers(0, len(GIVEN_CHARS), size=n)
    g2 = rng.integers(0, len(GIVEN_CHARS), size=n)
    single = rng.random(n) < 0.3
    chars = GIVEN_CHARS
    return [
        SURNAMES[s] + chars[a] + ("" if one else chars[b])
        for s, a, b, one in zip(
            sur.tolist(), g1.tolist(), g2.tolist(), single.tolist(), strict=True
        )
    ]


def surnames_of(names: list[str]) -> list[str]:
    return [name[0] for name in names]


def shop_names(rng: np.random.Generator, formats: list[str], owners: list[str]) -> list[str]:
    """Shop names built from templates of each shop's business format."""
    n = len(formats)
    pick = rng.random(n)
    prefix = rng.integers(0, len(SHOP_PREFIXES), size=n)
    out = []
    for fmt, owner, u, p in zip(formats, owners, pick.tolist(), prefix.tolist(), strict=True):
        templates = SHOP_TEMPLATES[fmt]
        template = templates[int(u * len(templates))]
        out.append(template.format(p=SHOP_PREFIXES[p], s=owner[0], n=owner))
    return out


def village_names(rng: np.random.Generator, n: int) -> list[str]:
    """Village names like 王家村, 东坡村, 下李村 (the caller appends 村 where missing)."""
    sur = rng.choice(len(SURNAMES), size=n, p=_SURNAME_P)
    style = rng.random(n)
    pre = rng.integers(0, len(VILLAGE_PREFIXES), size=n)
    suf = rng.integers(0, len(VILLAGE_SUFFIXES), size=n)
    out = []
    for s, u, p, f in zip(sur.tolist(), style.tolist(), pre.tolist(), suf.tolist(), strict=True):
        if u < 0.6:
            out.append(SURNAMES[s] + VILLAGE_SUFFIXES[f])
        else:
            out.append(VILLAGE_PREFIXES[p] + SURNAMES[s] + "村")
    return out


def pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> IntArray:
    return rng.integers(0, len(options), size=n)
