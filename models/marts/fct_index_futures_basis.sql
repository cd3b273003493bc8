-- CFFEX equity-index futures against their spot index, one row per trading day x
-- contract. basis = futures close - spot close (negative: discount, 贴水);
-- basis ratio = basis / spot; annualised = ratio x 365 / calendar days to expiry.
-- The main contract of a variety is the one with the largest open interest that day.

with

futures as (

    select * from {{ ref('stg_akshare__index_futures_daily') }}
    where {{ run_window_filter() }}

),

spot as (

    select * from {{ ref('stg_akshare__index_daily') }}
    where futures_variety is not null
        and {{ run_window_filter() }}

),

contracts as (

    select * from {{ ref('int_index_futures_contracts') }}

),

calendar as (

    select trade_date, trading_day_index from {{ ref('int_trading_calendar') }}

),

joined as (

    select
        futures.trade_date,
        futures.contract,
        futures.variety,
        contracts.contract_month,
        contracts.expiry_date,
        futures.open_points,
        futures.high_points,
        futures.low_points,
        futures.close_points as futures_close,
        futures.settle_points as settle,
        futures.pre_settle_points as pre_settle,
        spot.index_symbol as spot_index_symbol,
        spot.close_points as spot_close,
        futures.volume_contracts as volume,
        futures.open_interest_contracts as open_interest,
        futures.turnover_cny,
        date_diff('day', futures.trade_date, contracts.expiry_date) as days_to_expiry,
        expiry_calendar.trading_day_index - trade_calendar.trading_day_index
            as trading_days_to_expiry,
    from futures
    left join contracts
        on futures.contract = contracts.contract
    left join spot
        on futures.variety = spot.futures_variety
        and futures.trade_date = spot.trade_date
    left join calendar as trade_calendar
        on futures.trade_date = trade_calendar.trade_date
    left join calendar as expiry_calendar
        on contracts.expiry_date = expiry_calendar.trade_date

),

measured as (

    select
        *,
        futures_close - spot_close as basis_points,
        (futures_close - spot_close) / nullif(spot_close, 0) as basis_ratio,
        settle - spot_close as settle_basis_points,
        row_number() over (
            partition by trade_date, variety
            order by open_interest desc nulls last, volume desc nulls last, contract
        ) = 1 as is_main_contract,
        sum(open_interest) over (partition by trade_date, variety)
            as variety_open_interest,
        sum(volume) over (partition by trade_date, variety) as variety_volume,
    from joined

),

final as (

    select
        cast(trade_date as date) as trade_date,
        cast(contract as varchar) as contract,
        cast(variety as varchar) as variety,
        cast(contract_month as date) as contract_month,
        cast(expiry_date as date) as expiry_date,
        cast(is_main_contract as boolean) as is_main_contract,
        cast(open_points as double) as futures_open,
        cast(high_points as double) as futures_high,
        cast(low_points as double) as futures_low,
        cast(futures_close as double) as futures_close,
        cast(settle as double) as settle,
        cast(pre_settle as double) as pre_settle,
        cast(spot_index_symbol as varchar) as spot_index_symbol,
        cast(spot_close as double) as spot_close,
        cast(basis_points as double) as basis_points,
        cast(basis_ratio as double) as basis_ratio,
        cast(settle_basis_points as double) as settle_basis_points,
        cast(days_to_expiry as integer) as days_to_expiry,
        cast(trading_days_to_expiry as integer) as trading_days_to_expiry,
        cast(
            case when days_to_expiry > 0 then basis_ratio * 365 / days_to_expiry end
            as double
        ) as annualized_basis_ratio,
        cast(open_interest as double) as open_interest,
        cast(volume as double) as volume,
        cast(turnover_cny as double) as turnover_cny,
        cast(variety_open_interest as double) as variety_open_interest,
        cast(variety_volume as double) as variety_volume,
    from measured

)

select * from final
