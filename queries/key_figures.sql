-- Report panel "关键数据速览" on one day: year-to-date fall of the short balance
-- (年初至今降幅 >85%, "from over 700亿 at the start of the year to about 100亿"),
-- fall from the peak (较历史峰值降幅 >90%; peak since the warehouse's first day) and
-- short balance / float market cap (占A股流通市值比例 ~0.01%, "较年初缩水超10倍").
select
    trade_date,
    round(year_start_short_balance_cny / 1e8, 1) as year_start_short_balance_100m_cny,
    round(short_balance_cny / 1e8, 1) as short_balance_100m_cny,
    round(-short_balance_ytd_change_ratio * 100, 1) as ytd_fall_pct,
    round(peak_short_balance_cny / 1e8, 1) as peak_short_balance_100m_cny,
    peak_short_balance_date,
    round(-short_balance_drawdown_ratio * 100, 1) as fall_from_peak_pct,
    round(short_to_float_ratio * 100, 4) as short_to_float_pct,
    round(year_start_short_to_float_ratio * 100, 4) as year_start_short_to_float_pct,
    round(year_start_short_to_float_ratio / nullif(short_to_float_ratio, 0), 1)
        as times_smaller_than_year_start,
from marts.fct_market_short_daily
where trade_date = (
    select max(trade_date) from marts.fct_market_short_daily
    where trade_date <= date '2024-09-30'
);
