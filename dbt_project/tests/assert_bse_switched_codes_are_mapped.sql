-- Every BSE stock that switched to a 920xxx code is in seed bse_code_switch. One that
-- is not keeps two codes, its history split in two series: its old code's margin detail
-- stops on one BSE trading day and an unmapped 920xxx code of the same name starts on
-- the next. Each row here names such a pair: a row for the seed, once its source is
-- found. A warning, not an error: the marts are right for every other security, and
-- only a source can confirm a pair.

{{ config(severity='warn') }}

with

bse_detail as (

    select trade_date, security_code, security_name,
    from {{ ref('stg_akshare__margin_detail_bse') }}

),

bse_days as (

    select distinct trade_date from bse_detail

),

series as (

    select
        security_code,
        min(trade_date) as first_day,
        max(trade_date) as last_day,
        arg_min(security_name, trade_date) as first_name,
        arg_max(security_name, trade_date) as last_name,
    from bse_detail
    group by security_code

),

ended as (

    -- an old code (staging already carries a mapped one under its new code), with the
    -- BSE trading day after its last one
    select
        series.*,
        (select min(trade_date) from bse_days where trade_date > series.last_day) as next_day,
    from series
    where left(security_code, 2) <> '92'

)

select
    ended.security_code as security_code_before_switch,
    started.security_code,
    started.first_day as switch_date,
    started.first_name as security_name,
from ended
inner join series as started
    on started.first_day = ended.next_day
    and started.first_name = ended.last_name
    and left(started.security_code, 2) = '92'
