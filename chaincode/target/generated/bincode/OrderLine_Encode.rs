impl :: bincode :: Encode for OrderLine
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.category, encoder) ?; :: bincode
        :: Encode :: encode(&self.amount_minor, encoder) ?; core :: result ::
        Result :: Ok(())
    }
}