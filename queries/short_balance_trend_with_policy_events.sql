-- Report chart "融券余额趋势 (亿元)": the market short balance per trading day since
-- the start of 2024, with the policy events that took effect that day.
select
    market.trade_date,
    round(market.short_balance_cny / 1e8, 1) as short_balance_100m_cny,
    string_agg(events.title_zh, '; ') as policy_events,
    string_agg(events.short_selling_direction, '; ') as directions,
from marts.fct_market_short_daily as market
left join marts.dim_policy_event as events
    on events.effective_trade_date = market.trade_date
where market.trade_date >= date '2024-01-01'
group by market.trade_date, market.short_balance_cny
order by market.trade_date;
