impl :: bincode :: Encode for EventAmounts
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.currency, encoder) ?; :: bincode
        :: Encode :: encode(&self.order_total_minor, encoder) ?; :: bincode ::
        Encode :: encode(&self.eligible_minor, encoder) ?; :: bincode ::
        Encode :: encode(&self.discount_minor, encoder) ?; core :: result ::
        Result :: Ok(())
    }
}