-- Report "高融券个股名单与行业集中度" / "被融券个股画像": the Shenwan level-2 industries
-- holding the most short balance on a day, their share of the market's short balance,
-- the Herfindahl index of short balance across their securities and their top security.
select
    industry_name,
    industry_code,
    round(short_balance_cny / 1e8, 2) as short_balance_100m_cny,
    round(share_of_market_short_ratio * 100, 1) as share_of_market_short_pct,
    round(short_to_float_ratio * 100, 3) as short_to_float_pct,
    securities_with_short_count,
    round(short_hhi, 3) as short_hhi,
    top_short_security_name,
    top_short_security_code,
from marts.fct_short_concentration_by_industry
where trade_date = date '2024-07-10'
    and industry_level = 2
order by short_balance_cny desc
limit 10;
