defmodule Shop.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    children = [Shop.Cart, {Shop.Shopper, interval_ms: 1_000}]
    Supervisor.start_link(children, strategy: :one_for_one, name: Shop.Supervisor)
  end
end
