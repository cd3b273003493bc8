-- Financing balance (融资余额) against short balance (融券余额), whole market, weekly
-- (last trading day of each ISO week), in 亿 CNY, with their ratios to float market cap.
select
    trade_date,
    round(financing_balance_cny / 1e8, 0) as financing_balance_100m_cny,
    round(short_balance_cny / 1e8, 1) as short_balance_100m_cny,
    round(margin_total_cny / 1e8, 0) as margin_total_100m_cny,
    round(short_balance_cny / financing_balance_cny * 100, 2) as short_to_financing_pct,
    round(financing_to_float_ratio * 100, 2) as financing_to_float_pct,
    round(short_to_float_ratio * 100, 4) as short_to_float_pct,
from marts.fct_market_short_daily
qualify trade_date = max(trade_date) over (partition by date_trunc('week', trade_date))
order by trade_date;
