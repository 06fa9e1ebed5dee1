defmodule Shop.Cart do
  @moduledoc "A GenServer holding the cart: state that a debug session keeps."
  use GenServer

  def start_link(_opts), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def add(item), do: GenServer.call(__MODULE__, {:add, item})

  @impl true
  def init(items), do: {:ok, items}

  @impl true
  def handle_call({:add, item}, _from, items) do
    items = [item | items]
    {:reply, Shop.Pricing.total(items), items}
  end
end
