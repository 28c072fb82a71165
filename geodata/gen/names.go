package main

import (
	"math/rand/v2"
	"strings"
)

// Community names are invented in the style of Taizhou place names; none is
// meant to match a real community of the same town.
var urbanStems = strings.Fields(`紫阳 回浦 东湖 巾山 北固 赤城 兴善 白云 靖江 崇和 府前 天宁 龙兴 朝天
望江 柏叶 大固 双桥 城东 城西 洛阳 东门 南门 西门 溪头 迎春 樟树 新民 花园 丹霞 灵湖 崇文 前进
新荣 东方 振兴 锦绣 滨江 金鳌 桥南 上洋 沿溪 永安 平园 岭外 梅园 文化 方一 新丰 东溪 塔山 杏林
凤凰 白鹤 桃源 西郊 望海 荷花 阳光 城北 长城 云峰 永乐 银杏 新桥 丰泽 春晖 和平 汇丰 丽泽 清源
古渡 海门 宝城 华侨 竹林 金山 玉兰 紫荆 兰桂 秀水 春江 星河 朝阳 晨光 百合 双港 九龙 鹿城 青云
仙居 柳岸 书院 学府 康宁 安居 富民 新安 德润 恒丰 盛和 景和 瑞丰 泰和 庆丰 怡园 乐园 广场`)

var villageA = strings.Fields(`上 下 前 后 东 西 南 北 大 小 新 老 中 里 外 高 长 白 黄 青 石 沙 柳 桃 杏 梅 竹
松 枫 溪 塘 岭 湖 金 银 双 三 五 九 龙 凤 马 牛 鹤 仙 泉 岩 莲 茶 桐 樟 柴 横 坦 洪 花 兰 丁 里`)

var villageB = strings.Fields(`洋 塘 岙 岭 溪 湾 坑 山 岩 桥 头 田 浦 港 庄 园 坦 岸 垟 店 埠 墩 屿 门 口 坪 畈
宅 湖 林 川 村 潭 圩`)

var surnames = strings.Fields(`王 李 陈 林 张 何 徐 叶 应 朱 金 杨 项 蒋 屈 郑 卢 周 黄 吴 胡 许 郭 罗 梁 谢 冯
潘 董 葛 泮 卓 管 俞 洪 童 娄 柯`)

type namer struct {
	rng   *rand.Rand
	used  map[string]bool
	urban int
}

func newNamer() *namer {
	return &namer{rng: rand.New(rand.NewPCG(2024, 331082)), used: map[string]bool{}}
}

func (n *namer) take(s string) bool {
	if n.used[s] {
		return false
	}
	n.used[s] = true
	return true
}

// community names a 社区 (urban) or a 村 (village).
func (n *namer) community(urban bool) string {
	if urban {
		for n.urban < len(urbanStems) {
			s := urbanStems[n.urban] + "社区"
			n.urban++
			if n.take(s) {
				return s
			}
		}
	}
	for {
		var s string
		switch n.rng.IntN(3) {
		case 0:
			s = surnames[n.rng.IntN(len(surnames))] + "家" + villageB[n.rng.IntN(len(villageB))]
		default:
			a, b := villageA[n.rng.IntN(len(villageA))], villageB[n.rng.IntN(len(villageB))]
			if a == b {
				continue
			}
			s = a + b
		}
		s = strings.TrimSuffix(s, "村")
		if urban {
			s += "社区"
		} else {
			s += "村"
		}
		if n.take(s) {
			return s
		}
	}
}
