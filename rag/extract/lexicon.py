"""The word lists the heuristic extractor reads, in lower case: what is never a name, what types one.

They live apart from the rules that use them so that a word can be added without reading a regular
expression: the English finder cuts and types names with them, `normalize_name` drops legal forms with
them, and the Chinese finder types jieba's words with the Chinese lists.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- English -------------------------------------------------------------------------------------

#: Capitalised words that are never an entity alone: function words, sentence openers, calendar words.
STOP = _words(
    """a an the this that these those there here it its it's i me my we our you your he him his she
    her they them their who whom whose which what when where why how whether if then than so as at by for
    from in into of on onto to with within without about above below after before during since until
    while although though because unless however moreover furthermore meanwhile nevertheless therefore
    thus hence also still yet but and or nor not no yes all any each every some many most much more
    less few several both either neither other another such same one two three first second third next
    last final finally today yesterday tomorrow now recently currently later earlier soon once again
    please note see figure table chapter section page part step example appendix abstract summary
    introduction conclusion overview contents according regarding following based despite instead
    unlike like including our let can could may might must shall should will
    would do does did is are was were be been being have has had get got make made use used using
    january february march april may june july august september october november december jan feb mar
    apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday mon
    tue wed thu fri sat sun spring summer autumn fall winter am pm ok okay hello hi dear thanks thank
    mr mrs ms miss dr prof professor sir dame president vice senator governor mayor minister chairman
    chairwoman chair ceo cfo cto coo cio cmo founder cofounder co-founder director manager rev reverend
    vp svp evp hr pr it ai ml api url pdf faq tbd todo nb id gmt utc usd eur gbp jpy cny rmb gdp kpi roi
    fy q1 q2 q3 q4 kb mb gb tb pb kw mw gw kwh mwh hz khz mhz ghz km cm mm kg mg mbps gbps nm"""
)

#: Titles that make the name right after them a person.
TITLES = _words(
    """mr mrs ms miss dr prof professor sir dame president senator governor mayor minister chairman
    chairwoman ceo cfo cto coo cio cmo founder cofounder co-founder rev reverend"""
)

#: Legal-form words dropped from the normalised name, so "Acme Corp." and "Acme Corporation" meet.
CORPORATE_SUFFIXES = _words(
    """inc incorporated corp corporation co company cos ltd limited llc llp lp plc gmbh ag sa nv bv se
    spa srl kg oy ab pty pte kk group holdings holding"""
)

#: Last words that make a name an organisation: "Acme Labs", "Bank of America".
ORG_WORDS = CORPORATE_SUFFIXES | _words(
    """university college institute school academy bank foundation association society agency ministry
    department council committee commission bureau laboratories laboratory labs technologies technology
    systems solutions software networks motors airlines airways pharmaceuticals partners capital
    ventures media press times news hospital clinic party union federation league club fund trust
    organization organisation corporation alliance consortium"""
)
#: First words that make a name of several words an organisation: "University of Lyon".
ORG_HEADS = _words("university bank ministry department institute school college bureau")

#: Last words that make a name of several words a place: "Hudson River".
LOCATION_WORDS = _words(
    """city county province state river lake mountain mountains island islands bay sea ocean valley
    street avenue road square park district region republic kingdom desert peninsula coast"""
)
#: First words that make a name of several words a place: "Mount Everest".
LOCATION_HEADS = _words("mount lake cape fort port gulf")
#: First words that belong to a name even when the name opens a sentence: "Bank of America".
NAME_HEADS = ORG_HEADS | ORG_WORDS | LOCATION_HEADS | LOCATION_WORDS

#: Countries, regions and large cities: enough to type the places most documents name.
PLACES = frozenset(
    name.strip().lower()
    for name in """Afghanistan,Africa,America,Amsterdam,Argentina,Asia,Athens,Australia,Austria,Bangkok,
    Barcelona,Beijing,Belgium,Berlin,Boston,Brazil,Brussels,Cairo,California,Canada,Chicago,Chile,China,
    Colombia,Copenhagen,Denmark,Dubai,Dublin,Egypt,England,Europe,Finland,France,Frankfurt,Geneva,Germany,
    Greece,Guangzhou,Hamburg,Hangzhou,Helsinki,Hong Kong,India,Indonesia,Iran,Iraq,Ireland,Israel,
    Istanbul,Italy,Jakarta,Japan,Kenya,Korea,Lisbon,London,Los Angeles,Madrid,Malaysia,Melbourne,Mexico,
    Milan,Moscow,Mumbai,Munich,Netherlands,New Delhi,New York,New Zealand,Nigeria,Norway,Oslo,Pakistan,
    Paris,Peru,Philippines,Poland,Portugal,Prague,Rome,Russia,San Francisco,Saudi Arabia,Scotland,Seattle,
    Seoul,Shanghai,Shenzhen,Singapore,South Africa,Spain,Stockholm,Sweden,Switzerland,Sydney,Taiwan,
    Texas,Thailand,Tokyo,Toronto,Turkey,UK,Ukraine,United Kingdom,United States,US,USA,Vancouver,Vienna,
    Vietnam,Wales,Warsaw,Washington,Zurich""".split(",")  # noqa: SIM905 - a literal would span 30 lines
)

#: Common given names: a two- or three-word name starting with one is a person.
GIVEN_NAMES = _words(
    """james john robert michael william david richard joseph thomas charles christopher daniel matthew
    anthony mark donald steven paul andrew joshua kevin brian george edward ronald timothy jason jeffrey
    ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel frank
    gregory alexander patrick jack peter henry carl arthur bill tim tom bob jim mike steve elon jeff
    sam satya sundar mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy lisa
    betty margaret sandra ashley emily donna michelle carol amanda melissa deborah stephanie rebecca
    laura sharon cynthia kathleen amy anna angela helen emma olivia sophia alice jane julia maria
    claire grace rachel hannah ruth diana marie anne kate kim wei li jun ming hui yan"""
)

# --- Chinese -------------------------------------------------------------------------------------

#: Legal forms that end a company's name: dropped from the normalised name, and a cue for its type.
ZH_LEGAL_FORM = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|集团公司|集团|公司)$")
#: A legal form or institution word at the start of the token after a name: "小米" + "公司", and also
#: "腾讯" + "公司总部" (one dictionary word).
ZH_ORG_SUFFIX = re.compile(
    "股份有限公司|有限责任公司|有限公司|集团公司|公司|集团|银行|大学|学院|研究院|研究所|医院|协会|委员会"
)
#: Words jieba's dictionary holds that name no one alone: trades, ownership, determiners.
ZH_GENERIC = _words(
    """科技 技术 网络 互联网 软件 投资 控股 上市 物流 电子 能源 汽车 金融 保险 证券 咨询 管理 服务 贸易 建筑
    传媒 文化 医药 生物 信息 数据 电力 通信 国有 民营 私营 外资 跨国 一家 两家 多家 几家 这家 那家 每家 各家
    某 该 此 子 母 分 总 本 新 大 小 其 各"""
)
#: The commonest surnames: a word of two or three characters missing from the dictionary that
#: starts with one is a person.
ZH_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
#: Administrative divisions that end a place name: 深圳市, 广东省.
ZH_LOCATION_END = frozenset("省市县区镇村州")
#: Characters that jieba's HMM glues to the name after them ("由马云").
ZH_PREPOSITIONS = frozenset("由在和与被从向对把将是")
