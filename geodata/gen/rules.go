package main

import (
	"fmt"
	"sort"

	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
)

type deptRec struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	TownCode string `json:"town_code,omitempty"`
}

type catRec struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	MajorName string `json:"major_name"`
	Limit     int    `json:"limit"`
	Unit      string `json:"unit"`
	Theme     string `json:"theme,omitempty"`
}

type ruleRec struct {
	ID         int64  `json:"id"`
	Pattern    string `json:"pattern"`
	Scope      string `json:"scope"`
	ScopeCode  string `json:"scope_code,omitempty"`
	Department string `json:"department"`
	Priority   int    `json:"priority"`
	Fallback   bool   `json:"fallback"`
	Note       string `json:"note"`
}

var functionalDepts = []string{
	"综合行政执法局",        // D01
	"住房和城乡建设局",       // D02
	"交通运输局",          // D03
	"公安局交通警察大队",      // D04
	"水利局",            // D05
	"自然资源和规划局",       // D06
	"台州市生态环境局临海分局",   // D07
	"市场监督管理局",        // D08
	"园林绿化管理中心",       // D09
	"文化和广电旅游体育局",     // D10
	"台州府城文化旅游区管理委员会", // D11
	"国网临海市供电公司",      // D12
	"临海市自来水有限公司",     // D13
	"临海市天然气有限公司",     // D14
	"中国电信临海分公司",      // D15
	"中国移动临海分公司",      // D16
	"中国联通临海分公司",      // D17
	"华数广电网络临海分公司",    // D18
	"公安局",            // D19
	"应急管理局",          // D20
	"农业农村局",          // D21
	"民政局",            // D22
	"卫生健康局",          // D23
	"教育局",            // D24
	"商务局",            // D25
	"市政设施管理中心",       // D26
	"环境卫生管理中心",       // D27
	"临海市排水有限公司",      // D28
	"路灯管理所",          // D29
	"公路与运输管理中心",      // D30
	"消防救援大队",         // D31
	"气象局",            // D32
	"人民防空办公室",        // D33
	"中国邮政临海分公司",      // D34
	"中国铁塔临海分公司",      // D35
	"临海市公共交通有限公司",    // D36
	"临海市城市发展投资集团",    // D37
	"城市河道管理所",        // D38
}

func d(n int) string { return fmt.Sprintf("D%02d", n) }

func departments(w *world) []deptRec {
	var out []deptRec
	for i, n := range functionalDepts {
		out = append(out, deptRec{Code: d(i + 1), Name: n, Kind: grid.DeptFunctional})
	}
	for _, t := range w.towns {
		name := t.def.name + "人民政府"
		if t.def.kind == "street" {
			name = t.def.name + "办事处"
		}
		out = append(out, deptRec{Code: t.def.code, Name: name, Kind: grid.DeptTown, TownCode: t.def.code})
	}
	return out
}

const (
	wh = grid.WorkingHours
	wd = grid.WorkingDays
)

var majors = map[string]string{
	"P01": "公用设施", "P02": "道路交通", "P03": "市容环境", "P04": "园林绿化", "P05": "房屋土地", "P06": "其他设施",
	"E01": "市容环境", "E02": "宣传广告", "E03": "施工管理", "E04": "突发事件", "E05": "街面秩序",
}

func categories() []catRec {
	c := func(code, name string, limit int, unit, theme string) catRec {
		return catRec{code, name, majors[code[:3]], limit, unit, theme}
	}
	return []catRec{
		c("P0101", "上水井盖", 4, wh, ""),
		c("P0102", "污水井盖", 4, wh, ""),
		c("P0103", "雨水井盖", 4, wh, ""),
		c("P0104", "电力井盖", 4, wh, ""),
		c("P0105", "通信井盖", 4, wh, ""),
		c("P0106", "燃气井盖", 2, wh, ""),
		c("P0107", "路灯", 3, wd, ""),
		c("P0108", "消防栓", 2, wd, ""),
		c("P0109", "有线电视接线箱", 5, wd, ""),
		c("P0110", "通信交接箱", 5, wd, ""),
		c("P0111", "移动通信基站", 5, wd, ""),
		c("P0112", "通信铁塔", 5, wd, ""),
		c("P0201", "机动车停车场", 5, wd, ""),
		c("P0202", "公交站亭", 3, wd, ""),
		c("P0203", "交通标志牌", 3, wd, ""),
		c("P0204", "交通信号灯", 8, wh, ""),
		c("P0205", "道路护栏", 3, wd, ""),
		c("P0301", "垃圾箱", 4, wh, "sanitation"),
		c("P0302", "公共厕所", 1, wd, ""),
		c("P0303", "垃圾中转站", 1, wd, ""),
		c("P0304", "户外广告设施", 5, wd, ""),
		c("P0401", "古树名木", 3, wd, ""),
		c("P0402", "行道树", 3, wd, ""),
		c("P0403", "绿地", 5, wd, ""),
		c("P0501", "危房", 5, wd, ""),
		c("P0502", "待建空地", 10, wd, ""),
		c("P0503", "工地围挡", 3, wd, ""),
		c("P0601", "健身设施", 5, wd, ""),
		c("P0602", "监控电子眼", 3, wd, ""),
		c("P0603", "人防设施", 10, wd, ""),
		c("P0604", "积水监测仪", 2, wd, ""),
		c("P0605", "气象观测设施", 5, wd, ""),
		c("P0606", "河道护栏", 3, wd, ""),
		c("P0607", "邮筒", 5, wd, ""),
		c("E0101", "私搭乱建", 15, wd, ""),
		c("E0102", "暴露垃圾", 4, wh, "sanitation"),
		c("E0103", "积存垃圾渣土", 8, wh, "sanitation"),
		c("E0104", "道路不洁", 4, wh, "sanitation"),
		c("E0105", "水域不洁", 2, wd, ""),
		c("E0106", "绿地脏乱", 1, wd, ""),
		c("E0201", "非法小广告", 1, wd, ""),
		c("E0301", "施工扰民", 2, wd, ""),
		c("E0302", "工地扬尘", 1, wd, ""),
		c("E0401", "路面塌陷", 4, wh, ""),
		c("E0402", "自来水管破裂", 4, wh, ""),
		c("E0403", "燃气管道破裂", 2, wh, ""),
		c("E0404", "下水道堵塞或破损", 8, wh, ""),
		c("E0405", "架空线缆脱落", 4, wh, ""),
		c("E0406", "道路积水", 4, wh, "waterlogging"),
		c("E0407", "道路积雪结冰", 4, wh, ""),
		c("E0501", "无照经营游商", 4, wh, ""),
		c("E0502", "流浪乞讨", 1, wd, ""),
		c("E0503", "占道废品收购", 1, wd, ""),
		c("E0504", "店外经营", 4, wh, ""),
		c("E0505", "机动车乱停放", 2, wh, "parking"),
		c("E0506", "非机动车乱停放", 4, wh, "parking"),
	}
}

// landmark is a place a cell rule is attached to.
type landmark struct {
	name, pattern string
	dept          int
	lon, lat      float64
}

// buildRules writes the 121 responsibilities of the 38 departments and the
// 19 towns' fallbacks. cellAt and commAt locate points; lowComms are
// communities outside the urban core that hold water-logging points, most
// affected first; streetVillages are the villages of the five streets.
func buildRules(w *world, zones []zoneRec, cellAt func(lon, lat float64) int, lowComms, streetVillages []int) []ruleRec {
	var rs []ruleRec
	add := func(pattern, scope, code string, dept int, prio int, note string) {
		rs = append(rs, ruleRec{Pattern: pattern, Scope: scope, ScopeCode: code, Department: d(dept), Priority: prio, Note: note})
	}
	city := func(p string, dept int, note string) { add(p, grid.ScopeCity, "", dept, 0, note) }
	kind := func(k, p string, dept int, note string) { add(p, grid.ScopeZoneKind, k, dept, 0, note) }
	zoneCode := map[string]string{}
	for _, z := range zones {
		zoneCode[z.name] = z.code
	}
	zone := func(name, p string, dept, prio int, note string) {
		c, ok := zoneCode[name]
		if !ok {
			panic("no zone " + name)
		}
		add(p, grid.ScopeZone, c, dept, prio, note)
	}
	townCode := map[string]string{}
	for _, t := range w.towns {
		townCode[t.def.name] = t.def.code
	}
	town := func(name, p string, dept int, note string) { add(p, grid.ScopeTown, townCode[name], dept, 0, note) }

	// City-wide defaults.
	city("E0101", 1, "违法建设查处")
	city("E0105", 5, "河湖水面保洁")
	city("E0106", 9, "绿地养护")
	city("E02*", 1, "非法小广告清理")
	city("E0301", 7, "建筑施工噪声")
	city("E0302", 2, "工地扬尘管控")
	city("E0401", 30, "道路塌陷抢修")
	city("E0402", 13, "供水管网抢修")
	city("E0403", 14, "燃气管网抢修")
	city("E0404", 28, "排水管网疏通")
	city("E0405", 12, "架空线缆抢修")
	city("E0407", 30, "道路除雪防冻")
	city("E0501", 8, "无照经营查处")
	city("E0502", 22, "流浪乞讨人员救助")
	city("E0503", 25, "再生资源回收管理")
	city("E0504", 1, "店外经营整治")
	city("E0505", 4, "机动车违停查处")
	city("P01*", 26, "公用设施养护")
	city("P0101", 13, "供水井盖")
	city("P0102", 28, "污水井盖")
	city("P0103", 28, "雨水井盖")
	city("P0104", 12, "电力井盖")
	city("P0105", 15, "通信井盖")
	city("P0106", 14, "燃气井盖")
	city("P0107", 29, "路灯维护")
	city("P0108", 31, "市政消防栓")
	city("P0109", 18, "有线电视设施")
	city("P0110", 17, "通信交接箱")
	city("P0111", 16, "移动通信基站")
	city("P0112", 35, "通信铁塔")
	city("P02*", 3, "道路交通设施")
	city("P0202", 36, "公交站亭")
	city("P0203", 4, "交通标志")
	city("P0204", 4, "交通信号灯")
	city("P0302", 27, "公共厕所")
	city("P0304", 1, "户外广告设施")
	city("P04*", 9, "园林绿化设施")
	city("P0401", 6, "古树名木保护")
	city("P05*", 6, "土地房屋")
	city("P0501", 2, "危房管理")
	city("P0503", 2, "工地围挡")
	city("P06*", 37, "其他公共设施")
	city("P0601", 10, "全民健身设施")
	city("P0602", 19, "公共视频监控")
	city("P0603", 33, "人防设施")
	city("P0604", 28, "积水监测设备")
	city("P0605", 32, "气象观测设施")
	city("P0606", 5, "河道护栏")
	city("P0607", 34, "邮政设施")

	// Zone kinds.
	kind(grid.ZoneUrbanCore, "E0102", 27, "主城区环卫保洁")
	kind(grid.ZoneUrbanCore, "E0103", 27, "主城区垃圾渣土清运")
	kind(grid.ZoneUrbanCore, "E0104", 27, "主城区道路保洁")
	kind(grid.ZoneUrbanCore, "P03*", 27, "主城区环卫设施")
	kind(grid.ZoneUrbanCore, "E0505", 1, "主城区违停由综合执法查处")
	kind(grid.ZoneUrbanCore, "E0506", 1, "主城区非机动车秩序")
	kind(grid.ZoneUrbanCore, "E0406", 28, "主城区排涝")
	kind(grid.ZoneUrbanCore, "E0401", 26, "主城区市政道路")
	kind(grid.ZoneUrbanCore, "E0407", 26, "主城区市政道路除冰")
	kind(grid.ZonePark, "E01*", 9, "公园内市容")
	kind(grid.ZonePark, "P03*", 9, "公园内环卫设施")
	kind(grid.ZonePark, "E0505", 9, "公园内停车秩序")
	kind(grid.ZoneScenicArea, "E01*", 11, "景区内市容")
	kind(grid.ZoneScenicArea, "E05*", 11, "景区内街面秩序")
	kind(grid.ZoneScenicArea, "P03*", 11, "景区内环卫设施")
	kind(grid.ZoneScenicArea, "E02*", 11, "景区内小广告")
	kind(grid.ZoneRiverBank, "E01*", 38, "沿江绿道市容")
	kind(grid.ZoneRiverBank, "E0105", 5, "江面保洁")
	kind(grid.ZoneRiverBank, "P0606", 38, "堤岸护栏")
	kind(grid.ZoneArterialRoad, "E0505", 4, "主干道违停由交警查处")
	kind(grid.ZoneArterialRoad, "E0104", 27, "主干道机扫保洁")
	kind(grid.ZoneArterialRoad, "E0102", 27, "主干道沿线暴露垃圾")
	kind(grid.ZoneArterialRoad, "P02*", 30, "干线公路设施")
	kind(grid.ZoneArterialRoad, "E0401", 30, "干线公路路面")

	// Specific zones. Arterial roads cross each other, so their rules of a
	// same pattern carry distinct priorities.
	zone("东湖公园", "E0105", 9, 0, "东湖水面保洁")
	zone("灵湖公园", "E0105", 5, 0, "灵湖水面保洁")
	zone("括苍山森林公园", "E01*", 6, 0, "森林公园内由自然资源部门管理")
	zone("桃渚森林公园", "E01*", 10, 0, "桃渚景区管理")
	zone("江南体育公园", "P0601", 10, 0, "体育公园健身设施")
	zone("台州府城文化旅游区", "E0301", 10, 0, "历史街区施工")
	zone("台州府城文化旅游区", "P0401", 11, 0, "府城古树名木")
	zone("灵江北岸(古城段)", "E0106", 9, 0, "江滨公园绿地")
	zone("灵江南岸(江南段)", "E0106", 9, 0, "江滨公园绿地")
	zone("G104国道临海段", "E0401", 3, 4, "国道路面")
	zone("S225省道临杜线", "E0401", 3, 3, "省道路面")
	zone("S322省道临白线", "E0401", 3, 2, "省道路面")
	zone("东塍线", "E0401", 3, 1, "县道路面")

	// Towns.
	town("杜桥镇", "E0105", 21, "沿海养殖水域")
	town("上盘镇", "E0105", 21, "沿海养殖水域")
	town("桃渚镇", "E0105", 21, "沿海养殖水域")
	town("汛桥镇", "E0302", 7, "工业园区扬尘")
	town("东塍镇", "E0302", 7, "工业园区扬尘")
	town("括苍镇", "E0101", 6, "山区违法用地")
	town("白水洋镇", "E0101", 6, "山区违法用地")
	town("河头镇", "E0101", 6, "山区违法用地")
	town("上盘镇", "E0406", 20, "沿海低洼区防汛")

	// Cells.
	for _, lm := range []landmark{
		{"杜桥镇中心卫生院周边", "E0505", 23, 121.4635, 28.8025},
		{"汛桥镇卫生院周边", "E0505", 23, 121.2725, 28.9060},
		{"回浦中学周边", "E0501", 24, 121.1330, 28.8700},
		{"台州学院临海校区周边", "E0501", 24, 121.1600, 28.8800},
		{"临海站站前广场", "E0501", 3, 121.1760, 28.8920},
	} {
		ci := cellAt(lm.lon, lm.lat)
		if ci < 0 {
			panic("landmark outside every cell: " + lm.name)
		}
		add(lm.pattern, grid.ScopeCell, w.cells[ci].code, lm.dept, 0, lm.name)
	}

	// Communities fill the rest: low-lying communities outside the urban
	// core (water-logging to the emergency bureau), then villages of the
	// streets (illegal building to natural resources and planning).
	for i := 0; len(rs) < 121 && i < len(lowComms); i++ {
		add("E0406", grid.ScopeCommunity, w.comms[lowComms[i]].code, 20, 0, "低洼易涝村社防汛")
		if i >= 11 {
			break
		}
	}
	for i := 0; len(rs) < 121 && i < len(streetVillages); i++ {
		add("E0101", grid.ScopeCommunity, w.comms[streetVillages[i]].code, 6, 0, "城中村违法用地")
	}
	if len(rs) != 121 {
		panic(fmt.Sprintf("%d rules", len(rs)))
	}
	for _, t := range w.towns {
		rs = append(rs, ruleRec{Pattern: "*", Scope: grid.ScopeTown, ScopeCode: t.def.code, Department: t.def.code, Fallback: true, Note: "属地兜底"})
	}
	for i := range rs {
		rs[i].ID = int64(i + 1)
	}
	used := map[string]bool{}
	for _, r := range rs {
		used[r.Department] = true
	}
	for i := range functionalDepts {
		if !used[d(i+1)] {
			panic("department without a rule: " + functionalDepts[i])
		}
	}
	return rs
}

// place is what rules look at.
type place struct {
	cell, comm, town string
	zones            []zoneRec
}

// checkRules verifies that for every category and every place the matching
// rule of highest precedence is unique — with the towns' fallbacks taking
// part, and also among the specific rules alone (fallbacks as last resort).
// Precedence is the resolver's own (dispatch.Top).
func checkRules(cats []catRec, recs []ruleRec, places []place) error {
	rules := make([]grid.Rule, len(recs))
	for i, r := range recs {
		rules[i] = grid.Rule{ID: r.ID, Pattern: r.Pattern, Scope: r.Scope, ScopeCode: r.ScopeCode,
			Department: r.Department, Priority: r.Priority, Fallback: r.Fallback}
	}
	for _, c := range cats {
		for _, p := range places {
			dp := dispatch.Place{Cell: p.cell, Community: p.comm, Town: p.town}
			for _, z := range p.zones {
				dp.Zones = append(dp.Zones, dispatch.ZoneRef{Code: z.code, Kind: z.kind})
			}
			for _, fallbacks := range []bool{true, false} {
				top := dispatch.Top(rules, c.Code, dp, fallbacks)
				if len(top) == 0 && fallbacks {
					return fmt.Errorf("%s at cell %s: no rule", c.Code, p.cell)
				}
				if len(top) > 1 {
					var ids []int64
					for _, x := range top {
						ids = append(ids, x.ID)
					}
					return fmt.Errorf("%s at cell %s (zones %v): rules %v share the top precedence", c.Code, p.cell, zoneCodes(p.zones), ids)
				}
			}
		}
	}
	return nil
}

func zoneCodes(zs []zoneRec) []string {
	var out []string
	for _, z := range zs {
		out = append(out, z.code)
	}
	sort.Strings(out)
	return out
}
