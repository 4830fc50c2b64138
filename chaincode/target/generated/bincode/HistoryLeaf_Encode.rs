impl :: bincode :: Encode for HistoryLeaf
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.tx_id, encoder) ?; :: bincode ::
        Encode :: encode(&self.height, encoder) ?; :: bincode :: Encode ::
        encode(&self.index, encoder) ?; :: bincode :: Encode ::
        encode(&self.outcome, encoder) ?; core :: result :: Result :: Ok(())
    }
}