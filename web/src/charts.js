// Charts with Apache ECharts, imported piecemeal (bar and line charts, the
// grid, tooltip and legend, the canvas renderer) to keep the bundle small.
// Loaded on demand by the planner and the big screen.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

const font = '"Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif';

function palette(dark) {
  return dark
    ? { text: '#b9d3ee', axis: '#2a4466', split: 'rgba(63,182,255,0.12)', bar: '#3fb6ff', bar2: '#36d399', warn: '#ff6b6b' }
    : { text: '#3b4a5c', axis: '#c5ced8', split: '#edf0f3', bar: '#1f6fd1', bar2: '#3c9a3f', warn: '#d0021b' };
}

function chart(el) {
  const c = echarts.getInstanceByDom(el) ?? echarts.init(el, null, { renderer: 'canvas' });
  if (!el.dataset.resizeBound) {
    el.dataset.resizeBound = '1';
    new ResizeObserver(() => c.resize()).observe(el);
  }
  return c;
}

/** barChart: horizontal bars, largest at the top. */
export function barChart(el, { labels, values, dark = false, percent = false, color, max }) {
  const p = palette(dark);
  chart(el).setOption({
    animation: false,
    textStyle: { fontFamily: font, color: p.text },
    grid: { left: 8, right: 44, top: 6, bottom: 6, containLabel: true },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => (percent ? `${(v * 100).toFixed(1)}%` : v) },
    xAxis: { type: 'value', max, axisLabel: { color: p.text, formatter: percent ? (v) => `${Math.round(v * 100)}%` : undefined },
      splitLine: { lineStyle: { color: p.split } } },
    yAxis: { type: 'category', inverse: true, data: labels, axisLabel: { color: p.text, width: 120, overflow: 'truncate' },
      axisLine: { lineStyle: { color: p.axis } }, axisTick: { show: false } },
    series: [{ type: 'bar', data: values, barMaxWidth: 14, itemStyle: { color: color ?? p.bar, borderRadius: [0, 3, 3, 0] },
      label: { show: true, position: 'right', color: p.text, fontSize: 11,
        formatter: (d) => (d.value === null ? '—' : percent ? `${(d.value * 100).toFixed(0)}%` : d.value) } }],
  }, true);
}

/** lineChart: series over a shared x axis. */
export function lineChart(el, { x, series, dark = false }) {
  const p = palette(dark);
  const colors = dark ? ['#3fb6ff', '#36d399', '#ffb020', '#ff6b6b', '#b18cff', '#7ee0ff'] : ['#1f6fd1', '#3c9a3f', '#e6a100', '#d0021b', '#8e44ad', '#0097a7'];
  chart(el).setOption({
    animation: false,
    color: colors,
    textStyle: { fontFamily: font, color: p.text },
    grid: { left: 8, right: 12, top: 30, bottom: 6, containLabel: true },
    legend: { top: 0, textStyle: { color: p.text, fontSize: 11 }, itemWidth: 14, itemHeight: 8 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: x, boundaryGap: false, axisLabel: { color: p.text }, axisLine: { lineStyle: { color: p.axis } } },
    yAxis: { type: 'value', minInterval: 1, axisLabel: { color: p.text }, splitLine: { lineStyle: { color: p.split } } },
    series: series.map((s, i) => ({ type: 'line', name: s.name, data: s.data, showSymbol: false, smooth: 0.2,
      lineStyle: { width: i === 0 ? 2.4 : 1.4 }, areaStyle: i === 0 && s.area ? { opacity: 0.12 } : undefined })),
  }, true);
}

/** groupedBars: horizontal bars per category (largest first), one series per measure. */
export function groupedBars(el, { labels, series, dark = false }) {
  const p = palette(dark);
  chart(el).setOption({
    animation: false,
    color: dark ? ['#3fb6ff', '#36d399', '#ff6b6b'] : ['#1f6fd1', '#3c9a3f', '#d0021b'],
    textStyle: { fontFamily: font, color: p.text },
    grid: { left: 4, right: 16, top: 26, bottom: 0, containLabel: true },
    legend: { top: 0, textStyle: { color: p.text, fontSize: 12 }, itemWidth: 14, itemHeight: 8 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    yAxis: { type: 'category', inverse: true, data: labels, axisLabel: { color: p.text, fontSize: 12 },
      axisLine: { lineStyle: { color: p.axis } }, axisTick: { show: false } },
    xAxis: { type: 'value', minInterval: 1, axisLabel: { color: p.text }, splitLine: { lineStyle: { color: p.split } } },
    series: series.map((s) => ({ type: 'bar', name: s.name, data: s.data, barMaxWidth: 6, barGap: '20%' })),
  }, true);
}
