-- Report figure "较历史峰值降幅 >90%": the market short balance against its running
-- peak (the highest since the warehouse's first day), and the deepest point so far.
select
    trade_date,
    round(short_balance_cny / 1e8, 1) as short_balance_100m_cny,
    round(peak_short_balance_cny / 1e8, 1) as peak_short_balance_100m_cny,
    peak_short_balance_date,
    round(short_balance_drawdown_ratio * 100, 1) as drawdown_pct,
from marts.fct_market_short_daily
order by short_balance_drawdown_ratio
limit 1;
