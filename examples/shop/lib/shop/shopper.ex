defmodule Shop.Shopper do
  @moduledoc "Keeps shopping, so that breakpoints in the cart and pricing are hit."
  use GenServer

  @items [:apple, :bread, :coffee]

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @impl true
  def init(opts) do
    interval = Keyword.fetch!(opts, :interval_ms)
    Process.send_after(self(), :shop, interval)
    {:ok, %{interval: interval, round: 0}}
  end

  @impl true
  def handle_info(:shop, %{round: round} = state) do
    item = Enum.at(@items, rem(round, length(@items)))
    total = Shop.Cart.add(item)
    IO.puts("shop: added #{item}, cart total #{total}")
    Process.send_after(self(), :shop, state.interval)
    {:noreply, %{state | round: round + 1}}
  end
end
