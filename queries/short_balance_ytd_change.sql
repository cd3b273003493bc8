-- Report figure "年初至今降幅 >85%": the market short balance against the first
-- trading day of the year, month by month (last trading day of each month of 2024).
select
    trade_date,
    round(year_start_short_balance_cny / 1e8, 1) as year_start_short_balance_100m_cny,
    round(short_balance_cny / 1e8, 1) as short_balance_100m_cny,
    round(short_balance_ytd_change_cny / 1e8, 1) as ytd_change_100m_cny,
    round(short_balance_ytd_change_ratio * 100, 1) as ytd_change_pct,
from marts.fct_market_short_daily
where year(trade_date) = 2024
qualify trade_date = max(trade_date) over (partition by date_trunc('month', trade_date))
order by trade_date;
