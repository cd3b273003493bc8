-- Report figure "占A股流通市值比例 ~0.01%": the market short balance / float market
-- cap of the margin-eligible securities, month-end by month-end, with the year-start
-- value ("较年初缩水超10倍").
select
    trade_date,
    round(short_balance_cny / 1e8, 1) as short_balance_100m_cny,
    round(float_market_cap_cny / 1e12, 2) as float_market_cap_trillion_cny,
    round(short_to_float_ratio * 100, 4) as short_to_float_pct,
    round(year_start_short_to_float_ratio * 100, 4) as year_start_short_to_float_pct,
from marts.fct_market_short_daily
qualify trade_date = max(trade_date) over (partition by date_trunc('month', trade_date))
order by trade_date;
