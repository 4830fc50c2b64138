impl :: bincode :: Encode for Order
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.currency, encoder) ?; :: bincode
        :: Encode :: encode(&self.total_minor, encoder) ?; :: bincode ::
        Encode :: encode(&self.lines, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}